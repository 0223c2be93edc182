"""SF1510 reads through the platform (agreement, routing, recording), answered in the LoRa structure that
the official Klasse/Facet/Klassifikation schemas accept; a retired Klasse keeps its end of Virkning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from lxml import etree

from tests.klassifikation.conftest import (
    CVR,
    CVR2,
    DEBTOR_SYSTEM,
    READ_AGREEMENT,
    STRANGER_AGREEMENT,
    read_envelope,
    sf1510,
)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SD = "urn:oio:sagdok:3.0.0"
KL = "urn:oio:sts:klassifikation:klasse:1.1.3.0"
SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
SMAABELOEB = "1c9a320f-2468-4f45-a65c-06bef4915081"  # KY-AA-05, retired in version 2
FT_0101 = "18c07d4f-690d-458f-84a7-d39a5a727889"
FORDRINGSTYPE = "6184a563-007d-4acf-b0e9-e6b29e9c8f32"
FT_02 = "202d37ce-c234-434e-9cda-7e3336e4b1c4"
MSG_XSD = {
    "Klasse": "Klasse/KlasseServiceMsg.xsd",
    "Facet": "Facet/FacetServiceMsg.xsd",
    "Klassifikation": "Klassifikation/KlassifikationServiceMsg.xsd",
}


@cache
def official(obj: str) -> etree.XMLSchema:
    """The official SF1510 message schema of one service (the public contract, read, never copied)."""
    return etree.XMLSchema(etree.parse(str(sf1510(MSG_XSD[obj]))))


@pytest.fixture
async def sim(sim_factory, klass_routes):
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as s:
        yield s


async def call(sim, op: str, obj: str, inner: str, **kw) -> etree._Element:
    r = await sim.client.post(
        f"/service/Klassifikation/{obj}/5",
        content=read_envelope(op, obj, inner, **kw),
        headers={
            "SOAPAction": f'"http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/{obj}/5/{op}"',
            "Content-Type": "text/xml; charset=utf-8",
        },
    )
    return etree.fromstring(r.content).find(f"{{{SOAP}}}Body")[0]


def ok(payload: etree._Element, obj: str) -> etree._Element:
    schema = official(obj)
    assert schema.validate(payload), f"{schema.error_log}\n{etree.tostring(payload, pretty_print=True).decode()}"
    assert payload.findtext(f".//{{{SD}}}StatusKode") == "20", payload.findtext(f".//{{{SD}}}FejlbeskedTekst")
    return payload


def uuid_input(*uuids: str, extra: str = "") -> str:
    return "".join(f"<sd:UUIDIdentifikator>{u}</sd:UUIDIdentifikator>" for u in uuids) + extra


async def test_klasse_laes_list_soeg_validate_against_the_official_schema(sim):
    laes = ok(await call(sim, "laes", "Klasse", f"<o:LaesInput>{uuid_input(FT_0101)}</o:LaesInput>"), "Klasse")
    eg = laes.find(f".//{{{KL}}}Egenskab")
    assert eg.findtext(f"{{{SD}}}BrugervendtNoegleTekst") == "KY-FT-0101"
    assert eg.findtext(f"{{{SD}}}TitelTekst") == "Tilbagebetaling af for meget udbetalt kontanthjælp"
    rel = laes.find(f".//{{{KL}}}RelationListe")
    assert rel.findtext(f"{{{SD}}}Facet/{{{SD}}}ReferenceID/{{{SD}}}UUIDIdentifikator") == FORDRINGSTYPE
    assert rel.findtext(f"{{{SD}}}OverordnetKlasse/{{{SD}}}ReferenceID/{{{SD}}}UUIDIdentifikator") is not None

    lst = ok(
        await call(sim, "list", "Klasse", f"<o:ListInput>{uuid_input(FT_0101, SMAABELOEB)}</o:ListInput>"), "Klasse"
    )
    assert len(lst.findall(f".//{{{KL}}}FiltreretOejebliksbillede")) == 2

    soeg = f"""<o:SoegInput><sd:MaksimalAntalKvantitet>100</sd:MaksimalAntalKvantitet>
      <o:AttributListe><o:Egenskab><sd:BrugervendtNoegleTekst>KY-FT-02%</sd:BrugervendtNoegleTekst></o:Egenskab>
      </o:AttributListe><o:TilstandListe/><o:RelationListe><sd:OverordnetKlasse><sd:ReferenceID>
      <sd:UUIDIdentifikator>{FT_02}</sd:UUIDIdentifikator></sd:ReferenceID></sd:OverordnetKlasse></o:RelationListe>
      </o:SoegInput>"""
    found = ok(await call(sim, "soeg", "Klasse", soeg), "Klasse")
    assert len(found.findall(f"{{*}}SoegOutput/{{{SD}}}IdListe/{{{SD}}}UUIDIdentifikator")) == 4  # 0201-0204

    # the read went through the platform like any other call: recorded with the caller's agreement
    items = (await sim.client.get("/api/exchanges", params={"service": "Klasse"})).json()["items"]
    assert {(i["operation"], i["decision"], i["status"], i["system_uuid"]) for i in items} == {
        (op, "handled", "ok", DEBTOR_SYSTEM) for op in ("laes", "list", "soeg")
    }


@pytest.mark.parametrize("obj", ["Facet", "Klassifikation"])
async def test_facet_and_klassifikation_reads_validate_against_the_official_schema(sim, obj):
    ns = f"urn:oio:sts:klassifikation:{obj.lower()}:1.1.3.0"
    soeg = "<o:SoegInput><o:AttributListe/><o:TilstandListe/><o:RelationListe/></o:SoegInput>"
    ids = [e.text for e in ok(await call(sim, "soeg", obj, soeg), obj).iter(f"{{{SD}}}UUIDIdentifikator")]
    assert len(ids) == (2 if obj == "Facet" else 1)
    laes = ok(await call(sim, "list", obj, f"<o:ListInput>{uuid_input(*ids)}</o:ListInput>"), obj)
    keys = {e.text for e in laes.iter(f"{{{SD}}}BrugervendtNoegleTekst")}
    assert keys == ({"KY-FORDRINGSTYPE", "KY-AFSKRIVNINGSAARSAG"} if obj == "Facet" else {"KY"})
    assert laes.find(f".//{{{ns}}}Registrering") is not None


async def test_a_retired_klasse_carries_an_end_of_virkning_rather_than_disappearing(sim):
    laes = ok(await call(sim, "laes", "Klasse", f"<o:LaesInput>{uuid_input(SMAABELOEB)}</o:LaesInput>"), "Klasse")
    virkning = laes.find(f".//{{{KL}}}Egenskab/{{{SD}}}Virkning")
    assert virkning.findtext(f"{{{SD}}}TilTidspunkt/{{{SD}}}TidsstempelDatoTid") == "2024-07-01T00:00:00+02:00"
    published = [
        (
            p.findtext(f"{{{SD}}}ErPubliceretIndikator"),
            p.findtext(f"{{{SD}}}Virkning/{{{SD}}}FraTidspunkt/{{{SD}}}TidsstempelDatoTid"),
        )
        for p in laes.iter(f"{{{KL}}}PubliceretStatus")
    ]
    assert published == [("true", "2024-01-01T00:00:00+01:00"), ("false", "2024-07-01T00:00:00+02:00")]
    assert "Udgået" in laes.findtext(f".//{{{SD}}}AendringsnotatTekst")

    # retire another through the admin API: same shape, and both registrations are there on request
    ends_at = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
    r = await sim.client.post(
        "/api/klassifikation/klasser/KY-FT-0101/udgaa", json={"virkning_til": ends_at.isoformat(), "note": "erstattes"}
    )
    assert r.status_code == 200 and r.json()["version"] == 3
    history = f"""<o:LaesInput>{uuid_input(FT_0101)}<sd:RegistreringFraFilter><sd:GraenseIndikator>true
      </sd:GraenseIndikator></sd:RegistreringFraFilter><sd:RegistreringTilFilter><sd:GraenseIndikator>true
      </sd:GraenseIndikator></sd:RegistreringTilFilter></o:LaesInput>"""
    laes = ok(await call(sim, "laes", "Klasse", history), "Klasse")
    ends = [
        reg.findtext(
            f"{{{KL}}}AttributListe/{{{KL}}}Egenskab/{{{SD}}}Virkning/{{{SD}}}TilTidspunkt/{{{SD}}}TidsstempelDatoTid"
        )
        for reg in laes.iter(f"{{{KL}}}Registrering")
    ]
    assert ends == [None, ends_at.isoformat()]  # version 1 open-ended, version 3 ended

    # still found, and findable as "not published"
    soeg = """<o:SoegInput><o:AttributListe><o:Egenskab><sd:BrugervendtNoegleTekst>KY-%</sd:BrugervendtNoegleTekst>
      </o:Egenskab></o:AttributListe><o:TilstandListe><o:PubliceretStatus><sd:ErPubliceretIndikator>false
      </sd:ErPubliceretIndikator></o:PubliceretStatus></o:TilstandListe><o:RelationListe/></o:SoegInput>"""
    ids = [e.text for e in ok(await call(sim, "soeg", "Klasse", soeg), "Klasse").iter(f"{{{SD}}}UUIDIdentifikator")]
    assert ids == [SMAABELOEB]  # KY-FT-0101 ends only next year: still published today


async def test_unknown_objects_and_unusable_input_get_lora_status_codes(sim):
    missing = await call(
        sim, "laes", "Klasse", f"<o:LaesInput>{uuid_input('0' * 8 + '-0000-4000-8000-' + '0' * 12)}</o:LaesInput>"
    )
    ok_schema = official("Klasse")
    assert ok_schema.validate(missing) and missing.findtext(f".//{{{SD}}}StatusKode") == "44"
    empty = await call(sim, "laes", "Klasse", "<o:LaesInput/>")
    assert ok_schema.validate(empty) and empty.findtext(f".//{{{SD}}}StatusKode") == "40"
    assert "UUIDIdentifikator is required" in empty.findtext(f".//{{{SD}}}FejlbeskedTekst")


def fault_code(payload: etree._Element) -> str | None:
    return payload.findtext(f".//{{{SPF}}}ErrorCode")


async def test_without_invocation_context_the_agreement_is_found_from_municipality_and_service(sim):
    laes = f"<o:LaesInput>{uuid_input(FT_0101)}</o:LaesInput>"
    # found: the debtor system's agreement for 11111111 × Klasse (the stranger's is inactive)
    ok(await call(sim, "laes", "Klasse", laes), "Klasse")
    await sim.rt.recorder.flush()
    [ex] = (await sim.client.get("/api/exchanges", params={"service": "Klasse"})).json()["items"]
    assert (ex["system_uuid"], ex["agreement_uuid"], ex["municipality"]) == (
        DEBTOR_SYSTEM,
        READ_AGREEMENT["Klasse"],
        CVR,
    )
    assert ex["context"] == {"MunicipalityCVR": CVR, "FoundBy": "agreements"}

    # no municipality: nothing to look the agreement up by
    missing = await call(sim, "laes", "Klasse", laes, cvr=None)
    assert fault_code(missing) == "SP-136" and "AuthorityContext/MunicipalityCVR" in missing.findtext(".//faultstring")
    # a municipality nobody may read for
    assert fault_code(await call(sim, "laes", "Facet", laes, cvr=CVR2)) == "SP-136"

    # two systems may read for 11111111: without a security model the caller is unknown
    r = await sim.client.put(
        "/api/agreements",
        json={"uuid": STRANGER_AGREEMENT, "system": "stranger", "municipality": CVR, "service": "Klasse"},
    )
    assert r.status_code == 200, r.text
    ambiguous = await call(sim, "laes", "Klasse", laes)
    assert fault_code(ambiguous) == "SP-137"
    text = ambiguous.findtext(".//faultstring")
    assert "debitor, stranger" in text and "SIMULATOR_SECURITY_MODE" in text

    # only an inactive one left
    await sim.client.delete(f"/api/agreements/{READ_AGREEMENT['Klasse']}")
    await sim.client.put(
        "/api/agreements",
        json={
            "uuid": STRANGER_AGREEMENT,
            "system": "stranger",
            "municipality": CVR,
            "service": "Klasse",
            "active": False,
        },
    )
    assert fault_code(await call(sim, "laes", "Klasse", laes)) == "SP-135"


async def test_an_invocation_context_the_official_contract_does_not_have_is_refused_in_strict_mode(sim):
    """Never laxer than the official schema: InvocationContext is not part of SF1510's LaesRequest."""
    payload = await call(sim, "laes", "Klasse", f"<o:LaesInput>{uuid_input(FT_0101)}</o:LaesInput>", invocation=True)
    assert fault_code(payload) == "SP-150"
    assert "InvocationContext" in payload.findtext(".//faultstring")


async def test_write_operations_are_not_offered(sim):
    r = await sim.client.post(
        "/service/Klassifikation/Klasse/5",
        content=read_envelope("laes", "Klasse", "<o:LaesInput/>"),
        headers={"SOAPAction": '"http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/Klasse/5/opret"'},
    )
    fault = etree.fromstring(r.content)
    assert fault.findtext(f".//{{{SPF}}}ErrorCode") == "SP-111"
    assert "known: laes, list, soeg" in fault.findtext(".//faultstring")


async def test_wsdl_names_the_official_operations_and_soap_actions(sim):
    r = await sim.client.get("/service/Klassifikation/Klasse/5?wsdl")
    wsdl = etree.fromstring(r.content)
    actions = {op.get("soapAction") for op in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")}
    official_wsdl = etree.parse(str(sf1510("Klasse/wsdl/context/KlasseService.wsdl")))
    official_actions = {
        op.get("soapAction") for op in official_wsdl.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")
    }
    assert actions and actions <= official_actions
