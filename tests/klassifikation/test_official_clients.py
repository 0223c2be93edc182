"""Clients generated from KOMBIT's official SF1510 v5 WSDLs (Klasse, Facet, Klassifikation; context and token
variants) call our endpoints exactly as generated (CallContext?, AuthorityContext?, the LoRa input; no
InvocationContext) and get answers valid against the official message schemas. With a security model on, the
certificate or token names the caller; without one, the agreement for municipality × service does."""

from __future__ import annotations

import uuid

import httpx
import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from simulator.app import create_app
from simulator.security.pki import init_pki
from simulator.security.tls import uvicorn_tls_options
from simulator.security.wss import SOAP12, WST, fill_rst_template, sign_soap11
from simulator.serviceplatform import read_route_files
from tests.conftest import LiveServer, free_port, make_settings
from tests.klassifikation.conftest import CVR, DEBTOR_SYSTEM, READ_AGREEMENT, STRANGER_AGREEMENT, sf1510
from tests.klassifikation.test_reads import FT_0101, FT_02, SD, SMAABELOEB, official

SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
STS_PATH = "/runtime/services/kombittrust/14/certificatemixed"
OBJECTS = ("Klasse", "Facet", "Klassifikation")


def tns(obj: str) -> str:
    return f"http://serviceplatformen.dk/xml/wsdl/soap11/Klassifikation/{obj}/5/"


def official_client(obj: str, variant: str, url: str, session: requests.Session | None = None):
    """zeep built from the official WSDL (read from the contracts folder), pointed at our endpoint."""
    history = HistoryPlugin()
    client = zeep.Client(
        str(sf1510(f"{obj}/wsdl/{variant}/{obj}Service.wsdl")), plugins=[history], transport=Transport(session=session)
    )
    service = client.create_service(f"{{{tns(obj)}}}{obj}Binding", f"{url}/service/Klassifikation/{obj}/5")
    return client, service, history


def answered(history: HistoryPlugin, obj: str) -> etree._Element:
    """The response element we sent, checked against the official message schema."""
    payload = history.last_received["envelope"].find(f"{{{SOAP}}}Body")[0]
    schema = official(obj)
    assert schema.validate(payload), schema.error_log
    assert payload.findtext(f".//{{{SD}}}StatusKode") == "20", payload.findtext(f".//{{{SD}}}FejlbeskedTekst")
    return payload


def sent(history: HistoryPlugin) -> etree._Element:
    return history.last_sent["envelope"].find(f"{{{SOAP}}}Body")[0]


AUTHORITY = {"MunicipalityCVR": CVR}


def read_all(obj: str, variant: str, url: str, session: requests.Session | None = None) -> None:
    """soeg, then laes and list what was found, with the official client; every answer schema-valid."""
    client, service, history = official_client(obj, variant, url, session)
    if obj == "Klasse":
        found = service.soeg(
            AuthorityContext=AUTHORITY,
            SoegInput={
                "MaksimalAntalKvantitet": 100,
                "AttributListe": {"Egenskab": [{"BrugervendtNoegleTekst": "KY-FT-02%"}]},
                "TilstandListe": {},
                "RelationListe": {"OverordnetKlasse": {"ReferenceID": {"UUIDIdentifikator": FT_02}}},
            },
        )
    else:
        found = service.soeg(
            AuthorityContext=AUTHORITY, SoegInput={"AttributListe": {}, "TilstandListe": {}, "RelationListe": {}}
        )
    answered(history, obj)
    request = sent(history)
    assert [etree.QName(c).localname for c in request] == ["AuthorityContext", "SoegInput"]  # as generated
    ids = list(found.body.SoegOutput.IdListe.UUIDIdentifikator)  # zeep: {header, body} for messages with headers
    assert len(ids) == {"Klasse": 4, "Facet": 2, "Klassifikation": 1}[obj]

    first = FT_0101 if obj == "Klasse" else ids[0]
    header = client.get_element("{http://kombit.dk/xml/schemas/RequestHeader/1/}RequestHeader")
    laes = service.laes(
        AuthorityContext=AUTHORITY,
        LaesInput={"UUIDIdentifikator": first},
        _soapheaders=[header(TransactionUUID=str(uuid.uuid4()))],  # the header part the WSDL declares
    )
    answered(history, obj)
    snapshot = laes.body.LaesOutput.FiltreretOejebliksbillede
    assert snapshot.ObjektType.UUIDIdentifikator == first

    listed = ([FT_0101, SMAABELOEB] if obj == "Klasse" else ids)[:2]
    lst = service.list(
        CallContext={"OnBehalfOfUser": "qa"}, AuthorityContext=AUTHORITY, ListInput={"UUIDIdentifikator": listed}
    )
    answered(history, obj)
    assert [s.ObjektType.UUIDIdentifikator for s in lst.body.ListOutput.FiltreretOejebliksbillede] == listed


@pytest.mark.parametrize("variant", ["context", "token"])
def test_clients_from_the_official_wsdls_read_the_sortiment(live_factory, klass_routes, variant):
    with live_factory(routes_dir=klass_routes, components=["klassifikation"]) as live:
        for obj in OBJECTS:
            read_all(obj, variant, live.url)
        exchanges = httpx.get(f"{live.url}/api/exchanges", params={"limit": 50}, timeout=10).json()["items"]
        reads = [e for e in exchanges if e["service"] in OBJECTS]
        assert len(reads) == 9 and {e["status"] for e in reads} == {"ok"}
        assert {(e["system_uuid"], e["agreement_uuid"]) for e in reads} == {
            (DEBTOR_SYSTEM, READ_AGREEMENT[o]) for o in OBJECTS
        }


def test_the_official_client_gets_a_serviceplatform_fault_when_no_agreement_is_found(live_factory, klass_routes):
    with live_factory(routes_dir=klass_routes, components=["klassifikation"]) as live:
        _client, service, _history = official_client("Facet", "context", live.url)
        with pytest.raises(Fault) as e:
            service.laes(AuthorityContext={"MunicipalityCVR": "22222222"}, LaesInput={"UUIDIdentifikator": FT_0101})
        assert e.value.detail.findtext(f".//{{{SPF}}}ErrorCode") == "SP-136"


def test_our_wsdl_has_the_official_request_and_response_shapes(live_factory, klass_routes):
    """Operations, SOAPActions, messages (header + body parts), and each wrapper's context elements."""
    with live_factory(routes_dir=klass_routes, components=["klassifikation"]) as live:
        for obj in OBJECTS:
            ours = zeep.Client(f"{live.url}/service/Klassifikation/{obj}/5?wsdl")
            theirs = zeep.Client(str(sf1510(f"{obj}/wsdl/context/{obj}Service.wsdl")))
            ours_ops = next(iter(ours.wsdl.bindings.values()))._operations
            theirs_ops = next(iter(theirs.wsdl.bindings.values()))._operations
            for op in ("laes", "list", "soeg"):
                a, b = ours_ops[op], theirs_ops[op]
                assert a.soapaction == b.soapaction
                for mine, official_msg in ((a.input, b.input), (a.output, b.output)):
                    assert mine.body.qname == official_msg.body.qname
                    assert [e.qname for _n, e in mine.header.type.elements] == [
                        e.qname for _n, e in official_msg.header.type.elements
                    ]
                    *context, payload = [e for _n, e in mine.body.type.elements]
                    *official_context, official_payload = [e for _n, e in official_msg.body.type.elements]
                    # CallContext?, AuthorityContext? (no InvocationContext), then the LoRa element (ours: any of
                    # its namespace, since the LoRa schemas are not ours to ship)
                    assert [(e.qname, e.min_occurs) for e in context] == [
                        (e.qname, e.min_occurs) for e in official_context
                    ]
                    assert isinstance(payload, zeep.xsd.Any)
                    assert official_payload.qname.namespace == f"urn:oio:sts:klassifikation:{obj.lower()}:1.1.3.0"


# -- with a security model: the credentials name the caller ----------------------------------------------


@pytest.fixture
def klass_pki(tmp_path, klass_routes):
    pki, _ = init_pki(tmp_path / "certs", read_route_files(klass_routes).systems)
    return pki


async def test_token_variant_the_token_names_system_and_municipality(sim_factory, klass_routes, klass_pki):
    """A message built by zeep from the official token WSDL, with no context elements at all, signed with the
    debtor system's token: the token's system and CVR claim find the agreement."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(klass_pki.system_cert("debitor").read_bytes())
    key = serialization.load_pem_private_key(klass_pki.system_key("debitor").read_bytes(), password=None)
    async with sim_factory(
        routes_dir=klass_routes,
        components=["klassifikation", "security"],
        certs_dir=klass_pki.dir,
        security_mode="token",
    ) as sim:
        rst = fill_rst_template(cert=cert, key=key, cvr=CVR, applies_to="urn:simulator:entity:Klassifikation/Klasse/5")
        r = await sim.client.post(STS_PATH, content=rst, headers={"content-type": "application/soap+xml"})
        assert r.status_code == 200, r.text
        assertion = etree.fromstring(r.content).find(
            f"{{{SOAP12}}}Body/{{{WST}}}RequestSecurityTokenResponseCollection/"
            f"{{{WST}}}RequestSecurityTokenResponse/{{{WST}}}RequestedSecurityToken/{{{SAML}}}Assertion"
        )
        client, service, _h = official_client("Klasse", "token", "http://unused")
        envelope = client.create_message(service, "laes", LaesInput={"UUIDIdentifikator": FT_0101})
        action = tns("Klasse") + "laes"
        path = "/service/Klassifikation/Klasse/5"

        async def post(body: bytes) -> etree._Element:
            r = await sim.client.post(path, content=body, headers={"content-type": "text/xml", "soapaction": action})
            return etree.fromstring(r.content).find(f"{{{SOAP}}}Body")[0]

        ok = await post(sign_soap11(etree.tostring(envelope), assertion, key=key, action=action, to=path))
        assert official("Klasse").validate(ok) and ok.findtext(f".//{{{SD}}}StatusKode") == "20"
        await sim.rt.recorder.flush()
        [ex] = (await sim.client.get("/api/exchanges", params={"service": "Klasse"})).json()["items"]
        assert ex["context"] == {"MunicipalityCVR": CVR, "FoundBy": "token"}
        assert (ex["system_uuid"], ex["agreement_uuid"]) == (DEBTOR_SYSTEM, READ_AGREEMENT["Klasse"])

        # the token is for 11111111; an AuthorityContext naming another municipality is refused
        other = client.create_message(
            service, "laes", AuthorityContext={"MunicipalityCVR": "22222222"}, LaesInput={"UUIDIdentifikator": FT_0101}
        )
        refused = await post(sign_soap11(etree.tostring(other), assertion, key=key, action=action, to=path))
        assert refused.findtext(f".//{{{SPF}}}ErrorCode") == "SP-178"
        # without the token the call is refused before any agreement is looked for
        missing = await post(etree.tostring(envelope))
        assert missing.findtext(f".//{{{SPF}}}ErrorCode") == "SP-173"


def test_context_variant_the_certificate_names_the_caller_where_two_systems_could_read(
    tmp_path, klass_routes, klass_pki, messages_dir
):
    """Two systems have agreements for Klasse × 11111111: ambiguous without a security model (SP-137), found by
    the client certificate in the certificate model."""
    (klass_routes / "agreements.yaml").write_text(
        (klass_routes / "agreements.yaml").read_text().replace("service: Klasse, active: false", "service: Klasse")
    )
    port = free_port()
    settings = make_settings(
        tmp_path,
        klass_routes,
        messages_dir,
        port=port,
        components=["klassifikation", "security"],
        certs_dir=klass_pki.dir,
        security_mode="certificate",
        tls_certfile=klass_pki.server_cert,
        tls_keyfile=klass_pki.server_key,
    )
    with LiveServer(create_app(settings), port=port, **uvicorn_tls_options(settings)) as live:
        for system, agreement in (("debitor", READ_AGREEMENT["Klasse"]), ("stranger", STRANGER_AGREEMENT)):
            session = requests.Session()
            session.headers["Connection"] = "close"
            session.trust_env = False
            session.verify = str(klass_pki.ca_cert)
            session.cert = (str(klass_pki.system_cert(system)), str(klass_pki.system_key(system)))
            _c, service, history = official_client("Klasse", "context", live.url, session)
            service.laes(AuthorityContext=AUTHORITY, LaesInput={"UUIDIdentifikator": FT_0101})
            answered(history, "Klasse")
            exchange = session.get(
                f"{live.url}/api/exchanges", params={"service": "Klasse", "limit": 1}, timeout=10
            ).json()["items"][0]
            assert (exchange["agreement_uuid"], exchange["context"]["FoundBy"]) == (agreement, "certificate")


async def test_without_a_security_model_two_readers_are_ambiguous(sim_factory, klass_routes):
    (klass_routes / "agreements.yaml").write_text(
        (klass_routes / "agreements.yaml").read_text().replace("service: Klasse, active: false", "service: Klasse")
    )
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        client, service, _h = official_client("Klasse", "context", "http://unused")
        envelope = client.create_message(
            service, "laes", AuthorityContext=AUTHORITY, LaesInput={"UUIDIdentifikator": FT_0101}
        )
        r = await sim.client.post(
            "/service/Klassifikation/Klasse/5",
            content=etree.tostring(envelope),
            headers={"content-type": "text/xml", "soapaction": tns("Klasse") + "laes"},
        )
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-137"


async def test_the_simulators_own_call_names_its_system_instead_of_an_invocation_context(sim_factory, klass_routes):
    """Runtime.call_as (a scenario's send step) to SF1510 puts no InvocationContext in and still reads as the
    system it names, even where two systems may read."""
    (klass_routes / "agreements.yaml").write_text(
        (klass_routes / "agreements.yaml").read_text().replace("service: Klasse, active: false", "service: Klasse")
    )
    async with sim_factory(routes_dir=klass_routes, components=["klassifikation"]) as sim:
        laes_input = (
            '<o:LaesInput xmlns:o="urn:oio:sts:klassifikation:klasse:1.1.3.0">'
            f'<sd:UUIDIdentifikator xmlns:sd="{SD}">{FT_0101}</sd:UUIDIdentifikator></o:LaesInput>'
        )
        payload = etree.fromstring(f'<t:LaesRequest xmlns:t="{tns("Klasse")}">{laes_input}</t:LaesRequest>')
        r = await sim.rt.call_as(
            "stranger", CVR, "Klasse", payload, origin="scenario", user_uuid=str(uuid.uuid4()), operation="laes"
        )
        answer = etree.fromstring(r.body).find(f"{{{SOAP}}}Body")[0]
        assert r.status == 200, r.body.decode()
        assert official("Klasse").validate(answer) and answer.findtext(f".//{{{SD}}}StatusKode") == "20"
        await sim.rt.recorder.flush()
        [ex] = (await sim.client.get("/api/exchanges", params={"service": "Klasse"})).json()["items"]
        assert (ex["agreement_uuid"], ex["context"]) == (
            STRANGER_AGREEMENT,
            {"MunicipalityCVR": CVR, "FoundBy": "scenario"},
        )
        assert (
            b"InvocationContext"
            not in (await sim.client.get(f"/api/exchanges/{ex['id']}")).json()["request_body"].encode()
        )
