"""Official-contract mode: a vendor's WSDL/XSD folder replaces our reference contract for a service;
requests are validated against it (strict → SP-150 fault, lenient → recorded violations)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from lxml import etree

from simulator.ky.contracts import CONTRACTS
from simulator.serviceplatform.routefiles import ServiceDef
from simulator.soap.official import OfficialContractError, load_official_contract
from tests.ky.conftest import COMPONENTS
from tests.ky.messages import NS, PATH, action, coverage, kvittering

XS = "http://www.w3.org/2001/XMLSchema"
SERVICE = "DaekningAfskrivningRegistreringAfsend"


DEBITOR_XSD = "xsd/Debitor_1.xsd"


def write_official_folder(folder: Path, *, require_begrundelse: bool = True) -> Path:
    """Our reference contract's package (WSDL + XSD files, relative schemaLocations) saved as a vendor would
    receive an official one. With `require_begrundelse` the "official" schema is stricter than ours
    (Daekning/Begrundelse required), which shows which schema is in force."""
    CONTRACTS[SERVICE].package.write(folder)
    if require_begrundelse:
        path = folder / DEBITOR_XSD
        doc = etree.parse(str(path))
        for ct in doc.iter(f"{{{XS}}}complexType"):
            if ct.get("name") == "DaekningType":
                for el in ct.iter(f"{{{XS}}}element"):
                    if el.get("name") == "Begrundelse":
                        el.attrib.pop("minOccurs", None)
        doc.write(str(path), xml_declaration=True, encoding="utf-8")
    return folder


def use_official(routes_dir: Path, folder: Path, validation: str) -> None:
    path = routes_dir / "services.yaml"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        out.append(line)
        if line.strip() == f"contract: sf1590/{SERVICE}":
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}official_contract: {folder}", f"{indent}validation: {validation}"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def _service() -> ServiceDef:
    return ServiceDef(name=SERVICE, area="OIR", version=1, uuid=str(uuid.uuid4()), path=PATH, direction="debtor-to-ky")


def test_loads_operations_soapactions_and_schemas_from_the_folder(tmp_path) -> None:
    contract = load_official_contract(write_official_folder(tmp_path / "official"), _service())
    assert sorted(contract.operations) == ["RegistrerAfskrivning", "RegistrerDaekning"]
    op = contract.operations["RegistrerDaekning"]
    assert op.soap_action == NS + "RegistrerDaekning"
    assert op.request_element == f"{{{NS}}}RegistrerDaekningRequest"
    assert op.response_element == f"{{{NS}}}RegistrerDaekningResponse"
    env = etree.fromstring(coverage(str(uuid.uuid4()), "1.00"))
    payload = env.find(f".//{{{NS}}}RegistrerDaekningRequest")
    assert any("Begrundelse" in v for v in contract.validate_request(payload))


def test_a_schema_outside_the_folder_is_named(tmp_path) -> None:
    folder = write_official_folder(tmp_path / "official")
    (folder / DEBITOR_XSD).unlink()
    with pytest.raises(OfficialContractError, match="Debitor_1.xsd"):
        load_official_contract(folder, _service())
    with pytest.raises(OfficialContractError, match="no .wsdl"):
        load_official_contract(folder / "xsd", _service())


@pytest.mark.parametrize("validation", ["strict", "lenient"])
async def test_schema_violations_in_official_mode(sim_factory, routes_dir, tmp_path, validation) -> None:
    use_official(routes_dir, write_official_folder(tmp_path / "official"), validation)
    async with sim_factory(components=COMPONENTS) as sim:
        acc = (
            await sim.client.post(
                "/api/ky/accounts",
                json={
                    "municipality": "11111111",
                    "debitor": {"cpr": "0101701234"},
                    "claims": [{"amount": "100.00"}],
                    "send": False,
                },
            )
        ).json()["account"]
        claim = acc["claims"][0]["uuid"]
        # the official package is what is served
        served = etree.fromstring((await sim.client.get(f"{PATH}?xsd={DEBITOR_XSD}")).content)
        [begrundelse] = served.xpath(
            "//xs:complexType[@name='DaekningType']//xs:element[@name='Begrundelse']", namespaces={"xs": XS}
        )
        assert begrundelse.get("minOccurs") is None

        # Valid against our reference contract, but not against the official one (no Begrundelse).
        r = await sim.client.post(PATH, content=coverage(claim, "10.00"), headers={"SOAPAction": action()})
        await sim.rt.recorder.flush()
        [ex] = (await sim.client.get("/api/exchanges", params={"service": SERVICE})).json()["items"]
        assert any("Begrundelse" in v for v in ex["violations"])
        if validation == "strict":
            assert r.status_code == 500 and ex["fault_code"] == "SP-150"
            assert b"SP-150" in r.content and b"Begrundelse" in r.content
        else:  # recorded, and the call goes on to KY, which books it
            assert r.status_code == 200 and kvittering(r.content)[0] == "ACCEPTERET"
        view = (await sim.client.get(f"/api/ky/claims/{claim}")).json()
        assert view["covered"] == ("0.00" if validation == "strict" else "10.00")
