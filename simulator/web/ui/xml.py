"""Recorded XML for people: indented, and highlighted as HTML with everything escaped."""

from __future__ import annotations

import re
from html import escape

from lxml import etree
from markupsafe import Markup

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True, huge_tree=False
)
_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)|(?P<pi><\?.*?\?>)|(?P<cdata><!\[CDATA\[.*?\]\]>)"
    r"|(?P<open></?)(?P<name>[\w:.\-]+)(?P<attrs>(?:\s+[\w:.\-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)(?P<ws>\s*)(?P<close>/?>)"
    r"|(?P<text>[^<]+)|(?P<other><)",
    re.S,
)
_ATTR = re.compile(r"(\s+)([\w:.\-]+)(\s*=\s*)(\"[^\"]*\"|'[^']*')")


def pretty_xml(text: str) -> str:
    """Indented XML; the text unchanged when it does not parse (truncated, not XML)."""
    if not text:
        return ""
    try:
        root = etree.fromstring(text.encode("utf-8"), _SAFE_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return text
    return etree.tostring(root, pretty_print=True, encoding="unicode").rstrip("\n")


def highlight_xml(text: str) -> Markup:
    """XML as HTML with spans for tags, attributes, values, comments (everything escaped)."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if m.group("name"):
            attrs = _ATTR.sub(
                lambda a: (
                    f'{a.group(1)}<span class="xa">{escape(a.group(2))}</span>{escape(a.group(3))}'
                    f'<span class="xv">{escape(a.group(4))}</span>'
                ),
                m.group("attrs"),
            )
            out.append(
                f'<span class="xt">{escape(m.group("open"))}{escape(m.group("name"))}</span>{attrs}'
                f'{escape(m.group("ws"))}<span class="xt">{escape(m.group("close"))}</span>'
            )
        elif kind == "comment":
            out.append(f'<span class="xc">{escape(m.group(0))}</span>')
        elif kind in ("pi", "cdata"):
            out.append(f'<span class="xp">{escape(m.group(0))}</span>')
        else:
            out.append(
                f'<span class="xx">{escape(m.group(0))}</span>'
                if kind == "text" and m.group(0).strip()
                else escape(m.group(0))
            )
    return Markup("".join(out))


def xml_html(text: str | None) -> Markup:
    """Recorded XML as it is shown: indented and highlighted."""
    return highlight_xml(pretty_xml(text or ""))
