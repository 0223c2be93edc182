"""Namespace-agnostic XPath matchers, normalisation of volatile fields, and expected-vs-actual diffs."""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from simulator.scenarios.model import Matcher, NormaliseRule
from simulator.soap.envelope import parse_xml

SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"


@dataclass
class Check:
    """The outcome of one matcher: the field (XPath), what was expected and what was found."""

    path: str
    expected: str
    actual: str | None
    ok: bool
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        mark = "ok  " if self.ok else "DIFF"
        actual = self.actual if self.actual is not None else "(missing)"
        return f"{mark} {self.path}: expected {self.expected}, actual {actual}"


def local(doc: etree._Element) -> etree._Element:
    """A copy of the tree with every namespace removed (tags and attributes by local name)."""
    out = copy.deepcopy(doc)
    for el in out.iter():
        if not isinstance(el.tag, str):
            continue
        el.tag = etree.QName(el).localname
        for name in list(el.attrib):
            if name.startswith("{"):
                el.attrib[etree.QName(name).localname] = el.attrib.pop(name)
    etree.cleanup_namespaces(out)
    return out


def payload_of(body: str | bytes | None) -> etree._Element | None:
    """The SOAP Body's first element (or the document itself when it is not an envelope), namespaces removed."""
    if not body:
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        root = parse_xml(raw)
    except Exception:  # noqa: BLE001 - a truncated or non-XML body: nothing to match
        return None
    b = root.find(SOAP_BODY)
    if b is not None:
        children = [c for c in b if isinstance(c.tag, str)]
        root = children[0] if children else b
    return local(root)


def select(doc: etree._Element | None, path: str) -> list[str]:
    """Texts of the nodes ``path`` selects (strings and numbers as they are)."""
    if doc is None:
        return []
    try:
        found = doc.xpath(path)
    except etree.XPathError as e:
        raise ValueError(f"bad XPath {path!r}: {e}") from None
    if not isinstance(found, list):
        if isinstance(found, bool):
            return ["true"] if found else []
        return [str(found)]
    out = []
    for node in found:
        if isinstance(node, etree._Element):
            out.append((node.text or "").strip())
        else:
            out.append(str(node).strip())
    return out


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None


def _quoted(value: str) -> str:
    """A value in a report, quoted so that blanks show (not a Python repr)."""
    return f"\u201c{value}\u201d"


def check(doc: etree._Element | None, m: Matcher) -> Check:
    """Apply one matcher (already substituted) to a namespace-free document."""
    values = select(doc, m.path)
    first = values[0] if values else None
    if m.exists is not None:
        ok = bool(values) == m.exists
        return Check(m.path, "present" if m.exists else "absent", first if values else None, ok, m.note)
    if m.count is not None:
        return Check(m.path, f"{m.count} node(s)", f"{len(values)} node(s)", len(values) == m.count, m.note)
    if m.equals is not None:
        ok = any(v == m.equals for v in values)
        shown = first if len(values) <= 1 or ok else ", ".join(values)
        return Check(m.path, _quoted(m.equals), _quoted(shown) if shown is not None else None, ok, m.note)
    if m.regex is not None:
        rx = re.compile(m.regex)
        ok = any(rx.fullmatch(v) for v in values)
        return Check(m.path, f"/{m.regex}/", _quoted(first) if first is not None else None, ok, m.note)
    want = _number(str(m.number))
    tol = Decimal(str(m.tolerance))
    ok = want is not None and any((n := _number(v)) is not None and abs(n - want) <= tol for v in values)
    expected = f"{m.number}" + (f" ± {m.tolerance:g}" if m.tolerance else "")
    return Check(m.path, expected, first, ok, m.note)


def normalise(doc: etree._Element | None, rules: list[NormaliseRule]) -> etree._Element | None:
    """A copy with volatile fields ignored, masked or rewritten (rules whose path selects nothing are skipped)."""
    if doc is None or not rules:
        return doc
    out = copy.deepcopy(doc)
    for rule in rules:
        try:
            nodes = out.xpath(rule.path)
        except etree.XPathError:
            continue
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, etree._Element):
                continue
            if rule.action == "ignore":
                parent = node.getparent()
                if parent is not None:
                    parent.remove(node)
            elif rule.action == "mask":
                node.text = "*"
            elif rule.regex and node.text:
                node.text = re.sub(rule.regex, rule.replace, node.text)
    return out


def pretty(doc: etree._Element | None) -> str:
    if doc is None:
        return "(no XML)"
    return etree.tostring(doc, pretty_print=True, encoding="unicode")


def diff(doc: etree._Element | None, failed: list[tuple[Matcher, Check]]) -> str:
    """A unified diff of the expected document against the actual one.

    The expected document is the actual one with each failing ``equals``/``number`` field set to its
    expected value (and each missing field added as a marker), so the diff shows exactly the fields
    that differ, in their place in the XML."""
    if doc is None:
        return "(no XML to compare: the exchange has no readable body)"
    expected = copy.deepcopy(doc)
    notes: list[str] = []
    for m, c in failed:
        try:
            nodes = [n for n in expected.xpath(m.path) if isinstance(n, etree._Element)]
        except (etree.XPathError, TypeError):
            nodes = []
        want = m.equals if m.equals is not None else (str(m.number) if m.number is not None else None)
        if nodes and want is not None:
            nodes[0].text = want
        elif m.exists is False:
            for n in nodes:
                if n.getparent() is not None:
                    n.getparent().remove(n)
        else:
            notes.append(f"<!-- expected {c.path}: {c.expected} -->")
    exp_text = pretty(expected).splitlines() + notes
    act_text = pretty(doc).splitlines()
    lines = difflib.unified_diff(exp_text, act_text, "expected", "actual", lineterm="", n=2)
    return "\n".join(lines)
