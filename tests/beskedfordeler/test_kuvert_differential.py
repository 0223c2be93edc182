"""The envelope check is at least as strict as the official Beskedkuvert.xsd (issue 17, finding 4): a
differential property test. Hypothesis mutates the official sample messages (and our debtor messages): text in
element-only content, unexpected attributes, xsi:nil, impossible dateTimes, non-ASCII digits, empty or
non-UUID ids, missing, doubled, swapped, renamed and foreign elements. Whenever the official schema (read from
the contracts folder; skipped when absent) rejects a mutation, ours refuses it with 40; whatever ours accepts
gives delivered copies that the official schema accepts."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.accept import Acceptor
from simulator.beskedfordeler.answers import BeskedRefusal
from simulator.beskedfordeler.kuvert_schema import _TYPES
from simulator.soap.envelope import parse_xml
from tests.beskedfordeler.conftest import fordring, sample_haendelsesbeskeder, statusskift

XSI = "http://www.w3.org/2001/XMLSchema-instance"
EXAMPLES = 2000

TEXTS = ["x", "tekst", " ", "\n  ", "0"]
VALUES = [
    "2024-13-45T25:61:00",
    "2024-02-30T10:00:00Z",
    "2024-01-01T24:00:01",
    "2024-05-01T12:00:00",
    " 2024-05-01T12:00:00Z ",
    "2024-05-01",
    "٢٠٢٤-05-01T12:00:00",
    "١٢",
    "12",
    "+7",
    "-1",
    "1.5",
    "true",
    "false",
    "ja",
    "",
    " ",
    "abc",
    "not-a-uuid",
    "urn:oio:cvr-nr:11111111",
    "a1591545-9ad1-4065-b9ac-e9cc1d3a6d1",
    "g1591545-9ad1-4065-b9ac-e9cc1d3a6d13",
]
ATTRIBUTES = [
    ("id", "1"),
    ("{urn:oio:besked:kuvert:1.0}id", "1"),
    ("{urn:other}extra", "x"),
    (f"{{{XSI}}}nil", "true"),
    (f"{{{XSI}}}nil", "false"),
    (f"{{{XSI}}}type", "xs:string"),
    ("content-type", "text/xml"),
]
KUVERT_NAMES = sorted({name for spec in _TYPES.values() for name, *_ in spec} | {"Haendelsesbesked", "Foo"})
FOREIGN = [kv.k(n) for n in KUVERT_NAMES] + [
    kv.sd("UUIDIdentifikator"),
    kv.sd("URNIdentifikator"),
    kv.sd("TidsstempelDatoTid"),
    "{urn:other}Udvidelse",
    "Unqualified",
    "{http://www.w3.org/2000/09/xmldsig#}Signature",
]


def _bases() -> list[bytes]:
    found = [body for name, body in sample_haendelsesbeskeder() if body]
    return found + [statusskift(), fordring()]


def _mutate(root: etree._Element, data: st.DataObject) -> None:
    """One mutation of `root` (in place), chosen by hypothesis."""
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    el = elements[data.draw(st.integers(0, len(elements) - 1), label="element")]
    op = data.draw(
        st.sampled_from(["text", "tail", "attribute", "value", "remove", "double", "insert", "swap", "rename"]),
        label="op",
    )
    parent = el.getparent()
    if op == "text":
        kids = [c for c in el if isinstance(c.tag, str)]
        el.text = data.draw(st.sampled_from(TEXTS)) if kids else (el.text or "") + data.draw(st.sampled_from(TEXTS))
    elif op == "tail" and parent is not None:
        el.tail = data.draw(st.sampled_from(TEXTS))
    elif op == "attribute":
        name, value = data.draw(st.sampled_from(ATTRIBUTES))
        el.set(name, value)
    elif op == "value":
        for c in list(el):
            el.remove(c)
        el.text = data.draw(st.sampled_from(VALUES))
    elif op == "remove" and parent is not None:
        parent.remove(el)
    elif op == "double" and parent is not None:
        el.addnext(copy.deepcopy(el))
    elif op == "insert":
        new = etree.Element(data.draw(st.sampled_from(FOREIGN)))
        new.text = data.draw(st.sampled_from(["", *VALUES[:3], str(uuid.uuid4())]))
        el.insert(data.draw(st.integers(0, len(el))), new)
    elif op == "swap" and el.getnext() is not None:
        el.getnext().addnext(el)
    elif op == "rename" and parent is not None:
        el.tag = data.draw(st.sampled_from(FOREIGN))


def ours_refuses(body: bytes) -> BeskedRefusal | None:
    """What our acceptance answers before any agreement is looked at: the encoding, the XML and the
    envelope check (Acceptor.prepare's first steps)."""
    from simulator.beskedfordeler.accept import check_utf8
    from simulator.beskedfordeler.answers import refuse
    from simulator.beskedfordeler.kuvert_schema import KuvertError, check_structure
    from simulator.soap.errors import SoapFaultError

    try:
        check_utf8(body)
        try:
            root = parse_xml(body)
        except SoapFaultError as e:
            raise refuse("UGYLDIG_XML", e.text) from None
        try:
            check_structure(root)
        except KuvertError as e:
            raise refuse("UGYLDIG_KUVERT", str(e)) from None
    except BeskedRefusal as r:
        return r
    return None


def test_ours_refuses_every_envelope_the_official_schema_refuses(kuvert_xsd):
    bases = [etree.fromstring(b) for b in _bases()]
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        root = copy.deepcopy(bases[data.draw(st.integers(0, len(bases) - 1), label="base")])
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            _mutate(root, data)
        body = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        official_ok = kuvert_xsd.validate(etree.fromstring(body))
        refusal = ours_refuses(body)
        seen["official refuses" if not official_ok else "official accepts"] += 1
        if refusal is not None:
            seen["ours refuses"] += 1
            if official_ok:
                seen["ours stricter"] += 1
        if not official_ok:
            assert refusal is not None, f"official refuses ({kuvert_xsd.error_log.last_error}), ours accepts:\n{body}"
            assert refusal.retur.status == 40
            return
        if refusal is None:  # accepted: the copies we deliver follow the official schema
            delivered = kv.delivered_copy(
                body,
                kv.Leverance(
                    abonnement=str(uuid.uuid4()),
                    fordelingssystem=str(uuid.uuid4()),
                    modtaget_fra=str(uuid.uuid4()),
                    modtaget=datetime.now(UTC),
                    leveret=datetime.now(UTC),
                    forsoeg=1,
                    transaktions_id=str(uuid.uuid4()),
                    kildesystem=str(uuid.uuid4()),
                    tilladte_modtagere=None,
                ),
            )
            assert kuvert_xsd.validate(delivered), str(kuvert_xsd.error_log)

    check()
    assert seen["official refuses"] + seen["official accepts"] >= EXAMPLES
    assert seen["official refuses"] >= EXAMPLES // 4, seen  # the mutations exercise the schema
    # where ours is stricter, it is the BeskedId that is no UUID (the official type is any string)
    print(dict(seen))


@pytest.mark.parametrize(
    ("where", "mutation"),
    [
        ("Beskeddata", lambda el: setattr(el, "text", "tekst")),
        ("Filtreringsdata", lambda el: setattr(el, "text", "tekst")),
        ("BeskedVersion", lambda el: el.set("id", "1")),
        ("Beskedkuvert", lambda el: el.set(f"{{{XSI}}}nil", "true")),
        ("Dannelsestidspunkt", lambda el: setattr(el[0], "text", "2024-13-45T25:61:00")),
        ("Dannelsestidspunkt", lambda el: setattr(el[0], "text", "٢٠٢٤-05-01T12:00:00")),
        ("BeskedId", lambda el: setattr(el[0], "text", "")),
        ("BeskedId", lambda el: setattr(el[0], "text", "besked-1")),
    ],
)
def test_each_finding_of_the_tester_is_refused_40(where, mutation):
    root = etree.fromstring(statusskift())
    mutation(next(root.iter(kv.k(where))))
    refusal = ours_refuses(etree.tostring(root, encoding="utf-8"))
    assert refusal is not None and refusal.retur.status == 40 and refusal.retur.code == "UGYLDIG_KUVERT"


def test_acceptor_answers_the_envelope_refusal_40():
    acceptor = Acceptor.__new__(Acceptor)
    acceptor.max_body_bytes = 1_000_000
    root = etree.fromstring(statusskift())
    next(root.iter(kv.k("BeskedId")))[0].text = "not-a-uuid"
    with pytest.raises(BeskedRefusal) as e:
        acceptor.prepare(etree.tostring(root), {}, "http", {}, None)
    assert e.value.retur.status == 40 and "BeskedId" in e.value.retur.text
