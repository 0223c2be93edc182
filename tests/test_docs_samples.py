"""The sample messages in docs/samples/ are complete and correct: a vendor who copies them (in any language)
sends what the simulator accepts, and the field table of docs/beskedfordeler.md covers every element."""

from __future__ import annotations

import pytest
from lxml import etree

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.config import read_messages_config
from simulator.beskedfordeler.kuvert_schema import check_structure
from tests.beskedfordeler.conftest import BF_XSD, statuskode
from tests.conftest import DEMO_MESSAGES, ROOT, kombit_artefact

SAMPLES = ROOT / "docs" / "samples"
NAMES = ("DebitorkontoStatusskift", "FordringTilIndbetaling")
DOC = (ROOT / "docs" / "beskedfordeler.md").read_text(encoding="utf-8")
CFG = read_messages_config(DEMO_MESSAGES)


def _sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.xml").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_follows_the_kuvert_and_its_beskeddata_schema(name: str) -> None:
    root = etree.fromstring(_sample(name))
    check_structure(root)  # Beskedkuvert.xsd, element by element (the project's check)
    besked = kv.read_besked(root)
    bt = CFG.by_name(name)
    assert besked.beskedtype == bt.uuid
    payload = kv.beskeddata_payload(besked.beskeddata[0])
    assert etree.QName(payload) == etree.QName(bt.namespace, name)
    assert bt.xmlschema.validate(payload), bt.xmlschema.error_log
    assert {kv.cvr_of(m) for m in besked.myndigheder} == {"11111111"}


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_validates_against_the_official_beskedkuvert_xsd(name: str) -> None:
    xsd = etree.XMLSchema(etree.parse(str(kombit_artefact(f"{BF_XSD}/Beskedkuvert.xsd"))))
    assert xsd.validate(etree.ElementTree(etree.fromstring(_sample(name)))), xsd.error_log


async def test_the_simulator_accepts_both_samples_as_they_are(sim) -> None:
    for name in NAMES:
        r = await sim.client.post("/beskedfordeler/afsend", content=_sample(name))
        assert r.status_code == 200 and statuskode(r.content) == (20, None), (name, r.text)
    ex = (await sim.client.get("/api/exchanges", params={"service": "BeskedAfsend"})).json()["items"]
    assert {e["callers_call_id"] for e in ex} == {
        "2d6f1f2e-8c1a-4f7b-9a43-5b0c0e6f7a10",
        "7e4b2c9a-1d3f-4a6e-8b50-9f2c4d6e8a31",
    }


@pytest.mark.parametrize("name", NAMES)
def test_the_field_table_names_every_element_of_the_sample(name: str) -> None:
    assert f"(samples/{name}.xml)" in DOC
    table = DOC[DOC.index("## Complete samples") : DOC.index("## Nothing lost")]
    root = etree.fromstring(_sample(name))
    sagdok = {"UUIDIdentifikator", "URNIdentifikator", "TidsstempelDatoTid"}
    names = {etree.QName(el).localname for el in root.iter(etree.Element)} - sagdok - {"Haendelsesbesked"}
    missing = sorted(n for n in names if f"{n}`" not in table and f"{n}/" not in table and f"{n}," not in table)
    assert not missing, f"docs/beskedfordeler.md's field table does not name {missing}"
