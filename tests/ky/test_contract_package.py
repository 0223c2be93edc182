"""Every served contract is a package like KOMBIT's: the WSDL includes its message schema and imports each other
schema by a `schemaLocation` the simulator serves (`<path>?xsd=<file>`); every enumeration is a named simple
type, so code generators make one well-named class for it (never `…_…Type` or `…ParentType`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from simulator.ky.contracts import CONTRACTS, DEBITOR_NS
from tests.conftest import REQUIRE_SERVICES
from tests.ky.conftest import COMPONENTS

XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP_SERVICES = [
    "/service/OIR/DebitorRegistreringAfsend/1",
    "/service/OIR/DaekningAfskrivningRegistreringAfsend/1",
    "/service/OIR/DebitorForespoergselAfsend/1",
    "/service/OIR/DebitorIndbetalingAfsend/1",
    "/service/Klassifikation/Klasse/5",
    "/service/Klassifikation/Facet/5",
    "/service/Klassifikation/Klassifikation/5",
    "/service/Klassifikation/SortimentModtag/1",
]
ENUMERATIONS = {  # the named enumeration types of our SF1590 reference model
    DEBITOR_NS: {
        "RolleType",
        "TilstandType",
        "KontoartType",
        "OpkraevningsformType",
        "AfskrivningsaarsagType",
        "PosteringsartType",
    },
    "http://serviceplatformen.dk/xml/schemas/kvittering/1/": {"ForretningsValideringsKodeType"},
}


async def fetch_package(sim, path: str) -> dict[str, etree._Element]:
    """The WSDL at `path` and every document it reaches through its locations, fetched from the simulator."""
    todo = [f"{sim.settings.base_url}{path}?wsdl"]
    docs: dict[str, etree._Element] = {}
    while todo:
        url = todo.pop()
        if url in docs:
            continue
        r = await sim.client.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text}"
        docs[url] = root = etree.fromstring(r.content)
        for imp in root.iter(f"{{{XS}}}import"):
            assert imp.get("schemaLocation"), f"{url} imports {imp.get('namespace')} without a schemaLocation"
        for el in root.iter(f"{{{XS}}}import", f"{{{XS}}}include", f"{{{WSDL}}}import"):
            location = el.get("schemaLocation") or el.get("location")
            assert location.startswith(f"{sim.settings.base_url}{path}?xsd="), location
            todo.append(location)
    return docs


@pytest.fixture
async def sim(sim_factory):
    async with sim_factory(components=COMPONENTS) as s:
        yield s


async def test_every_contract_is_served_as_wsdl_plus_schema_files_each_imported_by_location(sim):
    for path in SOAP_SERVICES:
        docs = await fetch_package(sim, path)
        schemas = [d for d in docs.values() if d.tag == f"{{{XS}}}schema"]
        assert len(schemas) >= 4, path  # message schema, context schemas, fault …
        wsdl = docs[f"{sim.settings.base_url}{path}?wsdl"]
        [inline] = wsdl.iter(f"{{{XS}}}schema")
        assert not inline.findall(f"{{{XS}}}element") and not inline.findall(f"{{{XS}}}complexType")
        faults = wsdl.findall(f"{{{WSDL}}}portType/{{{WSDL}}}operation/{{{WSDL}}}fault")
        assert {f.get("name") for f in faults} == {"ServiceplatformFault"}
        assert (await sim.client.get(f"{path}?xsd=nothing.xsd")).status_code == 404


async def test_every_simple_type_is_named_and_no_name_is_synthetic(sim):
    for path in SOAP_SERVICES:
        for url, doc in (await fetch_package(sim, path)).items():
            for st in doc.iter(f"{{{XS}}}simpleType"):
                assert st.getparent().tag == f"{{{XS}}}schema", f"{url}: an anonymous simple type"
                name = st.get("name")
                assert "_" not in name and "Parent" not in name, f"{url}: synthetic type name {name}"
            for ct in doc.iter(f"{{{XS}}}complexType"):
                assert "_" not in (ct.get("name") or ""), f"{url}: synthetic type name {ct.get('name')}"
    for contract in CONTRACTS.values():
        for doc in contract.package.files.values():
            tns = doc.get("targetNamespace")
            enums = {
                st.get("name")
                for st in doc.iter(f"{{{XS}}}simpleType")
                if st.find(f"{{{XS}}}restriction/{{{XS}}}enumeration") is not None
            }
            assert enums <= ENUMERATIONS.get(tns, set()), (tns, enums)


def test_the_package_validates_what_the_inline_contract_did(tmp_path):
    """One definition: the files written for a vendor compile to the schema the simulator validates with."""
    contract = CONTRACTS["DaekningAfskrivningRegistreringAfsend"]
    written = contract.package.write(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "wsdl/context/DaekningAfskrivningRegistreringAfsendService.wsdl",
        "DaekningAfskrivningRegistreringAfsendServiceMsg.xsd",
        "xsd/Debitor_1.xsd",
        "sp/CallContext_1.xsd",
        "sp/AuthorityContext_1.xsd",
        "sp/InvocationContext_1.xsd",
        "sp/Kvittering_1.xsd",
        "sp/ServiceplatformFault_1.xsd",
    }
    msg = etree.parse(str(tmp_path / "DaekningAfskrivningRegistreringAfsendServiceMsg.xsd")).getroot()
    assert {i.get("schemaLocation") for i in msg.iter(f"{{{XS}}}import")} == {
        "sp/CallContext_1.xsd",
        "sp/AuthorityContext_1.xsd",
        "sp/InvocationContext_1.xsd",
        "sp/Kvittering_1.xsd",
        "xsd/Debitor_1.xsd",
    }
    from_files = etree.XMLSchema(etree.parse(str(tmp_path / "DaekningAfskrivningRegistreringAfsendServiceMsg.xsd")))
    from tests.ky.messages import NS, coverage

    good = etree.fromstring(coverage("0b6a52d6-4a0e-4b7e-9d55-0d3c1c3b2a11", "1.00")).find(
        f".//{{{NS}}}RegistrerDaekningRequest"
    )
    bad = etree.fromstring(etree.tostring(good).replace(b"1.00", b"1.001"))
    for payload, valid in ((good, True), (bad, False)):
        assert from_files.validate(payload) is valid
        assert (contract.validate_request(payload) == []) is valid


NODE_SOAP = Path(__file__).parent / "load_with_node_soap.js"


def test_node_soap_loads_every_served_wsdl(live_factory):
    """node-soap (npm `soap`) builds a client from each served WSDL. Needs `node` and the `soap` package on
    NODE_PATH; skipped locally otherwise, required in CI (.ci/run installs it)."""
    node = shutil.which("node")
    if node is None or subprocess.run([node, "-e", "require('soap')"], capture_output=True).returncode != 0:
        if REQUIRE_SERVICES:
            pytest.fail("node and the npm package 'soap' (on NODE_PATH) are required in CI")
        pytest.skip("node or the npm package 'soap' (on NODE_PATH) is not available")
    with live_factory(components=COMPONENTS) as live:
        urls = [f"{live.url}{p}?wsdl" for p in SOAP_SERVICES]
        out = subprocess.run([node, str(NODE_SOAP), *urls], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("OK ") == len(SOAP_SERVICES), out.stdout
