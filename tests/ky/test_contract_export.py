"""The integration package: `simulator contracts export DIR` writes each service's WSDL + XSDs + README in KOMBIT's
layout (also downloadable per service as `<path>?package`); the same folder loads back through official-contract
mode and is then what the simulator serves and validates against."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from lxml import etree
from typer.testing import CliRunner

from simulator.cli import app
from tests.klassifikation.conftest import read_envelope
from tests.ky.conftest import COMPONENTS
from tests.ky.messages import PATH, action, coverage, kvittering

SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
SD = "urn:oio:sagdok:3.0.0"
KLASSE_PATH = "/service/Klassifikation/Klasse/5"
FT_0101 = "18c07d4f-690d-458f-84a7-d39a5a727889"


def export(folder: Path, routes_dir: Path, *services: str) -> str:
    args = ["contracts", "export", str(folder), "--routes", str(routes_dir), "--url", "http://simulator.example"]
    r = CliRunner().invoke(app, args + [a for s in services for a in ("--service", s)])
    assert r.exit_code == 0, r.output
    return r.output


def use_official(routes_dir: Path, service: str, folder: Path) -> None:
    """`official_contract: <folder>` (validation strict) for one service in services.yaml."""
    path = routes_dir / "services.yaml"
    out, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("- name:"):
            current = line.split(":", 1)[1].strip()
        if current == service and line.strip().startswith("validation:"):
            continue
        out.append(line)
        if current == service and line.strip().startswith("contract:"):
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}official_contract: {folder}", f"{indent}validation: strict"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def canonical(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def test_export_writes_each_service_in_kombits_layout_with_a_readme(tmp_path, routes_dir):
    output = export(tmp_path / "out", routes_dir)
    folders = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert folders == sorted(
        [
            "DebitorRegistreringAfsend",
            "DaekningAfskrivningRegistreringAfsend",
            "DebitorForespoergselAfsend",
            "DebitorIndbetalingAfsend",
            "Klasse",
            "Facet",
            "Klassifikation",
            "SortimentModtag",
        ]
    )
    assert "DebitorRegistreringAfsend: 10 files" in output
    reg = tmp_path / "out" / "DebitorRegistreringAfsend"
    wsdl = etree.parse(str(reg / "wsdl/context/DebitorRegistreringAfsendService.wsdl")).getroot()
    [include] = wsdl.iter("{http://www.w3.org/2001/XMLSchema}include")
    assert include.get("schemaLocation") == "../../DebitorRegistreringAfsendServiceMsg.xsd"
    [address] = wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == "http://simulator.example/service/OIR/DebitorRegistreringAfsend/1"
    readme = (reg / "README.md").read_text()
    assert "not KOMBIT's contract" in readme and "`OpretDebitorkonto`" in readme and "wsimport" in readme
    assert "service.uuid=e354a6d1-500b-49c6-916a-510623e12fba" in (reg / "sp/service.properties").read_text()
    klasse = (tmp_path / "out" / "Klasse" / "README.md").read_text()
    assert "public** SF1510 Klasse" in klasse and "requests carry `InvocationContext` | no" in klasse
    assert "[`Klasse`](Klasse/README.md)" in (tmp_path / "out" / "README.md").read_text()
    r = CliRunner().invoke(
        app, ["contracts", "export", str(tmp_path / "x"), "--routes", str(routes_dir), "--service", "Nope"]
    )
    assert r.exit_code == 1 and "no such service: Nope" in r.output


async def test_the_exported_folder_loads_back_as_the_official_contract(tmp_path, routes_dir, sim_factory):
    """Round trip: reference contract → export → official-contract mode serves the same documents and accepts and
    refuses the same messages (an SF1590 service with InvocationContext, and SF1510 Klasse without one)."""
    async with sim_factory(components=COMPONENTS) as reference:
        before = {p: canonical((await reference.client.get(f"{p}?wsdl")).content) for p in (PATH, KLASSE_PATH)} | {
            "msg": canonical(
                (await reference.client.get(f"{PATH}?xsd=DaekningAfskrivningRegistreringAfsendServiceMsg.xsd")).content
            )
        }
        zipped = await reference.client.get(f"{PATH}?package")
    export(tmp_path / "pkg", routes_dir, "DaekningAfskrivningRegistreringAfsend", "Klasse")
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert zipped.headers["content-type"] == "application/zip"
    on_disk = tmp_path / "pkg" / "DaekningAfskrivningRegistreringAfsend"
    assert sorted(names) == sorted(
        f"DaekningAfskrivningRegistreringAfsend/{p.relative_to(on_disk).as_posix()}" for p in on_disk.rglob("*.*")
    )

    use_official(routes_dir, "DaekningAfskrivningRegistreringAfsend", on_disk)
    use_official(routes_dir, "Klasse", tmp_path / "pkg" / "Klasse")
    async with sim_factory(components=COMPONENTS) as sim:
        assert type(sim.rt.pipeline.contract_for(sim.rt.routes.services["Klasse"])).__name__ == "OfficialContract"
        assert {p: canonical((await sim.client.get(f"{p}?wsdl")).content) for p in (PATH, KLASSE_PATH)} == {
            p: before[p] for p in (PATH, KLASSE_PATH)
        }
        served = await sim.client.get(f"{PATH}?xsd=DaekningAfskrivningRegistreringAfsendServiceMsg.xsd")
        assert canonical(served.content) == before["msg"]

        acc = (
            await sim.client.post(
                "/api/ky/accounts",
                json={"municipality": "11111111", "debitor": {"cpr": "0101701234"}, "claims": [{"amount": "50.00"}]}
                | {"send": False},
            )
        ).json()["account"]
        claim = acc["claims"][0]["uuid"]
        ok = await sim.client.post(PATH, content=coverage(claim, "10.00"), headers={"SOAPAction": action()})
        assert ok.status_code == 200 and kvittering(ok.content)[0] == "ACCEPTERET"
        bad = await sim.client.post(PATH, content=coverage(claim, "1.005"), headers={"SOAPAction": action()})
        assert etree.fromstring(bad.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-150"

        laes = f"<o:LaesInput><sd:UUIDIdentifikator>{FT_0101}</sd:UUIDIdentifikator></o:LaesInput>"
        klasse_action = {"SOAPAction": '"http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/Klasse/5/laes"'}
        read = await sim.client.post(KLASSE_PATH, content=read_envelope("laes", "Klasse", laes), headers=klasse_action)
        assert etree.fromstring(read.content).findtext(f".//{{{SD}}}StatusKode") == "20"
        with_ic = await sim.client.post(
            KLASSE_PATH, content=read_envelope("laes", "Klasse", laes, invocation=True), headers=klasse_action
        )
        assert etree.fromstring(with_ic.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-150"


async def test_the_configuration_page_links_each_services_package(sim_factory):
    async with sim_factory(components=COMPONENTS) as sim:
        page = (await sim.client.get("/ui/config")).text
        assert f'href="{PATH}?package"' in page and f'href="{KLASSE_PATH}?package"' in page
        assert (await sim.client.get("/service/Beskedfordeler/BeskedAfsend/1?package")).status_code == 404
