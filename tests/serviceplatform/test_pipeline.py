"""The SOAP pipeline as a caller sees it: routed, refused, recorded — with zeep as the real client."""

from __future__ import annotations

import asyncio

import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault

from tests.serviceplatform.pingservice import (
    AGREEMENT,
    AGREEMENT_OTHER_MUNICIPALITY,
    AGREEMENT_OTHER_SERVICE,
    AGREEMENT_OTHER_SYSTEM,
    CALLER_UUID,
    CVR,
    CVR2,
    SERVICE_UUID,
    USER_UUID,
    envelope,
)

SPF = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
PATH = "/service/Test/Ping/1"


def context(agreement: str = AGREEMENT, cvr: str = CVR, **over) -> dict:
    inv = {
        "ServiceAgreementUUID": agreement,
        "UserSystemUUID": CALLER_UUID,
        "UserUUID": USER_UUID,
        "ServiceUUID": SERVICE_UUID,
    } | over
    return {"InvocationContext": inv, "AuthorityContext": {"MunicipalityCVR": cvr}}


def error_code(fault: Fault) -> str:
    return fault.detail.find(f".//{{{SPF}}}ErrorCode").text


@pytest.fixture
def live_ping(live_factory, ping_routes):
    with live_factory(routes_dir=ping_routes) as server:
        yield server


def zeep_client(live) -> zeep.Client:
    return zeep.Client(f"{live.url}{PATH}?wsdl")


def test_zeep_call_with_valid_agreement_is_routed_answered_and_recorded(live_ping, provider):
    client = zeep_client(live_ping)
    result = client.service.Ping(**context(CallersServiceCallIdentifier="call-42"), Tekst="hej")
    assert result.Tekst == "hej" and result.Fra == "provider"

    action, body = provider.app.state.received[-1]
    assert action == '"http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Ping"'
    assert b"call-42" in body  # the provider gets the caller's request untouched

    import httpx

    items = httpx.get(f"{live_ping.url}/api/exchanges", params={"correlation_id": "call-42"}).json()["items"]
    assert len(items) == 1
    ex = items[0]
    assert (ex["service"], ex["operation"], ex["municipality"], ex["status"], ex["decision"]) == (
        "Ping",
        "Ping",
        CVR,
        "ok",
        "routed",
    )
    assert ex["agreement_uuid"] == AGREEMENT and ex["system_uuid"] == CALLER_UUID
    assert ex["route_target"] == f"{provider.url}/ping"
    full = httpx.get(f"{live_ping.url}/api/exchanges/{ex['id']}").json()
    assert "<t:Fra>provider</t:Fra>" in full["response_body"] and "call-42" in full["request_body"]


def test_wsdl_follows_serviceplatform_conventions(live_ping):
    client = zeep_client(live_ping)
    binding = client.wsdl.bindings[next(iter(client.wsdl.bindings))]
    actions = {name: op.soapaction for name, op in binding._operations.items()}
    assert actions == {
        "Ping": "http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Ping",
        "Ekko": "http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Ekko",
    }
    port = next(iter(client.wsdl.services.values())).ports
    assert next(iter(port.values())).binding_options["address"] == f"{live_ping.url}{PATH}"


@pytest.mark.parametrize(
    ("ctx", "code", "says"),
    [
        (context(agreement="aaaaaaaa-0000-4000-8000-0000000000ff"), "SP-130", "no service agreement"),
        (context(agreement=AGREEMENT_OTHER_SYSTEM), "SP-131", "belongs to system 'stranger'"),
        (context(agreement=AGREEMENT_OTHER_SERVICE), "SP-132", "covers Other, not Ping"),
        (context(agreement=AGREEMENT_OTHER_MUNICIPALITY, cvr=CVR), "SP-133", "is for municipality 87654321"),
        (context(agreement=AGREEMENT, cvr=CVR2), "SP-133", "on behalf of 87654321"),
        (context(UserSystemUUID="11111111-2222-4333-8444-55555555555A"), "SP-122", "lower case"),
        (context(ServiceUUID="00000000-0000-4000-8000-000000000000"), "SP-123", "does not match Ping"),
        ({"AuthorityContext": {"MunicipalityCVR": CVR}}, "SP-120", "no InvocationContext"),
    ],
)
def test_refused_calls_get_the_documented_fault_and_are_recorded(live_ping, provider, ctx, code, says):
    client = zeep_client(live_ping)
    with pytest.raises(Fault) as info:
        client.service.Ping(**ctx, Tekst="nej")
    assert error_code(info.value) == code
    assert says in info.value.message
    assert provider.app.state.received == []  # nothing reached the provider

    import httpx

    ex = httpx.get(f"{live_ping.url}/api/exchanges").json()["items"][0]
    assert (ex["status"], ex["fault_code"], ex["decision"]) == ("fault", code, "refused")
    assert says in ex["reason"]
    assert httpx.get(f"{live_ping.url}/healthz").json()["ok"] is True


ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol3;</soap:Body></soap:Envelope>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&xxe;</soap:Body></soap:Envelope>"""
SOAP12 = b"""<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>"""


@pytest.mark.parametrize(
    ("path", "body", "action", "code"),
    [
        (
            PATH,
            b"<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>",
            None,
            "SP-100",
        ),
        (PATH, ENTITY_BOMB, None, "SP-101"),
        (PATH, XXE, None, "SP-101"),
        (PATH, SOAP12, None, "SP-103"),
        (PATH, b"<not-soap/>", None, "SP-103"),
        (PATH, envelope().replace(b"hej", b"h\xe6j"), None, "SP-104"),
        ("/service/Test/Nope/1", envelope(), None, "SP-110"),
        (PATH, envelope(), '"http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Slet"', "SP-111"),
        (PATH, envelope(op="SletRequest"), None, "SP-111"),
        (PATH, envelope(), '"http://serviceplatformen.dk/xml/wsdl/soap11/Test/Ping/1/Ekko"', "SP-111"),
        (PATH, envelope(system="99999999-9999-4999-8999-999999999999"), None, "SP-134"),
    ],
)
async def test_hostile_or_wrong_input_gets_its_fault_and_a_record(sim_factory, ping_routes, path, body, action, code):
    async with sim_factory(routes_dir=ping_routes) as sim:
        headers = {"SOAPAction": action} if action else {}
        r = await sim.client.post(path, content=body, headers=headers)
        assert r.status_code == 500
        fault = etree.fromstring(r.content)
        assert fault.findtext(f".//{{{SPF}}}ErrorCode") == code
        assert r.headers["x-simulator-exchange-id"]
        rec = (await sim.client.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}")).json()
        assert rec["fault_code"] == code and rec["status"] == "fault"
        assert rec["request_body"]  # what was sent is kept for inspection
        assert (await sim.client.get("/healthz")).json()["ok"] is True


async def test_soap12_gets_version_mismatch(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        r = await sim.client.post(PATH, content=SOAP12)
        assert etree.fromstring(r.content).findtext(".//faultcode") == "soap:VersionMismatch"


async def test_oversized_body_is_refused_unparsed_and_recorded_with_its_head(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes, max_body_bytes=100_000) as sim:
        body = envelope(text="x" * 200_000)
        r = await sim.client.post(PATH, content=body)
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-102"
        rec = (await sim.client.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}")).json()
        assert rec["service"] == "Ping" and rec["fault_code"] == "SP-102"
        assert "200" in rec["reason"] and len(rec["request_body"]) < 100_000


def test_a_50_mb_body_over_http_is_refused_recorded_and_the_server_stays_healthy(live_ping):
    """A 50 MB upload against the default 10 MB limit: SP-102 without parsing, the exchange recorded with
    the body's head only, and the next call still served."""
    import httpx

    head = envelope()
    body = head[: head.index(b"hej")] + b"x" * (50 * 1024 * 1024) + head[head.index(b"hej") :]
    with httpx.Client(base_url=live_ping.url, timeout=60) as http:
        r = http.post(PATH, content=body, headers={"Content-Type": "text/xml"})
        assert r.status_code == 500
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-102"
        rec = http.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}").json()
        assert rec["fault_code"] == "SP-102" and str(len(body)) in rec["reason"]
        assert "<soap:Envelope" in rec["request_body"][:200] and len(rec["request_body"]) < 300 * 1024
        assert http.get("/healthz").json()["ok"] is True
        assert http.post(PATH, content=envelope()).status_code == 200


async def test_misplaced_or_duplicated_context_is_refused(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        body = envelope()
        ic_start = body.index(b"<ic:InvocationContext")
        ic_end = body.index(b"</ic:InvocationContext>") + len(b"</ic:InvocationContext>")
        ic = body[ic_start:ic_end]
        duplicated = body[:ic_end] + ic + body[ic_end:]
        late = body[:ic_start] + body[ic_end:].replace(b"</t:Tekst>", b"</t:Tekst>" + ic, 1)
        wrong_ns = body.replace(b"http://serviceplatformen.dk/xml/schemas/InvocationContext/1/", b"urn:wrong", 1)
        for bad in (duplicated, late, wrong_ns):
            r = await sim.client.post(PATH, content=bad)
            assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-124", bad


async def test_strict_validation_refuses_what_the_contract_forbids(sim_factory, tmp_path, provider):
    from tests.serviceplatform.pingservice import write_routes

    routes = write_routes(tmp_path / "strict", f"{provider.url}/ping", validation="strict")
    async with sim_factory(routes_dir=routes) as sim:
        r = await sim.client.post(PATH, content=envelope(text="x" * 30))  # Tekst max 20
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-150"
        r = await sim.client.post(PATH, content=envelope(text="fint"))
        assert r.status_code == 200


async def test_provider_down_or_not_soap_is_a_server_fault(sim_factory, ping_routes, provider):
    async with sim_factory(routes_dir=ping_routes) as sim:
        await sim.client.put(
            "/api/routes", json={"service": "Ping", "municipality": CVR, "target": f"{provider.url}/not-soap"}
        )
        r = await sim.client.post(PATH, content=envelope())
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-142"
        await sim.client.put(
            "/api/routes",
            json={"service": "Ping", "municipality": CVR, "target": "http://127.0.0.1:9/closed"},
        )
        r = await sim.client.post(PATH, content=envelope())
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-141"
        await sim.client.delete(f"/api/routes/Ping:{CVR}")
        r = await sim.client.post(PATH, content=envelope())
        assert etree.fromstring(r.content).findtext(f".//{{{SPF}}}ErrorCode") == "SP-140"


async def echo(call) -> etree._Element:
    from tests.serviceplatform.pingservice import NS

    out = etree.Element(f"{{{NS}}}PingResponse")
    etree.SubElement(out, f"{{{NS}}}Tekst").text = call.payload.findtext(f"{{{NS}}}Tekst")
    return out


async def test_builtin_handler_answers_in_place_of_a_provider(sim_factory, ping_routes):
    async with sim_factory(routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": "*", "target": "builtin:echo"})
        await sim.client.delete(f"/api/routes/Ping:{CVR}")
        r = await sim.client.post(PATH, content=envelope(text="ekko"))
        assert r.status_code == 200 and b">ekko</" in r.content
        ex = (await sim.client.get(f"/api/exchanges/{r.headers['x-simulator-exchange-id']}")).json()
        assert ex["decision"] == "handled" and ex["route_target"] == "builtin:echo"


async def test_recording_survives_1000_concurrent_calls(sim_factory, ping_routes, backend):
    async with sim_factory(backend=backend, routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})

        async def one(i: int) -> str:
            r = await sim.client.post(PATH, content=envelope(call_id=f"c{i}"), headers={"X-Simulator-Session": "burst"})
            assert r.status_code == 200, r.text
            return r.headers["x-simulator-exchange-id"]

        ids = await asyncio.gather(*(one(i) for i in range(1000)))
        assert len(set(ids)) == 1000
        seen: set[str] = set()
        before = None
        while True:
            params = {"session": "burst", "limit": 500} | ({"before": before} if before else {})
            page = (await sim.client.get("/api/exchanges", params=params)).json()
            seen.update(x["callers_call_id"] for x in page["items"])
            before = page["next_before"]
            if before is None:
                break
        assert seen == {f"c{i}" for i in range(1000)}


async def test_an_answered_call_is_already_committed(sim_factory, ping_routes, backend):
    """Group commit: the caller gets its answer only once the exchange is in the database, so a crash
    right after answering cannot lose it (no flush, no admin API read in between)."""
    from sqlalchemy import select

    from simulator.store import ExchangeRow

    async with sim_factory(backend=backend, routes_dir=ping_routes) as sim:
        sim.rt.handlers["echo"] = echo
        await sim.client.put("/api/routes", json={"service": "Ping", "municipality": CVR, "target": "builtin:echo"})
        responses = await asyncio.gather(*(sim.client.post(PATH, content=envelope()) for _ in range(20)))
        ids = {r.headers["x-simulator-exchange-id"] for r in responses}
        async with sim.rt.db.session() as s:
            stored = set((await s.scalars(select(ExchangeRow.id).where(ExchangeRow.id.in_(ids)))).all())
        assert stored == ids
