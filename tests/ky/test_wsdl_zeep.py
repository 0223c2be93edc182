"""The reference contracts as a vendor meets them: zeep loads every WSDL from a live simulator and
calls every operation through the platform; SOAPActions are ASCII; receipts are SF2900's."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import httpx
import zeep
from lxml import etree
from zeep.transports import Transport

from simulator.ky.contracts import CONTRACTS
from tests.ky.conftest import DAEKNING_SERVICE, DEMO_CVR, KY_SYSTEM, OPUS_AGREEMENT, OPUS_SYSTEM, Env

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
KV = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
KY_AGREEMENTS = {  # KY × 11111111 (routes/agreements.yaml)
    "DebitorRegistreringAfsend": "eaefe823-905a-4be7-aa00-616250873ca3",
    "DebitorForespoergselAfsend": "ad31dbdd-62f1-4b5a-af0c-5367e3d19826",
    "DebitorIndbetalingAfsend": "ff5f70b5-b93d-4751-aed0-c6df6b7003af",
}
SERVICE_UUIDS = {
    "DebitorRegistreringAfsend": "e354a6d1-500b-49c6-916a-510623e12fba",
    "DebitorForespoergselAfsend": "d53ad201-9597-413f-9d13-3a61f10ddd8b",
    "DebitorIndbetalingAfsend": "d0ed926d-be52-4b12-bf4a-0513b594eed5",
    "DaekningAfskrivningRegistreringAfsend": DAEKNING_SERVICE,
}


def test_wsdls_are_valid_and_their_soapactions_ascii(ky_env: Env) -> None:
    for name, contract in CONTRACTS.items():
        r = httpx.get(f"{ky_env.sim.url}/service/OIR/{name}/1?wsdl", timeout=10)
        assert r.status_code == 200
        root = etree.fromstring(r.content)
        assert root.get("targetNamespace") == f"http://serviceplatformen.dk/xml/wsdl/soap11/OIR/{name}/1/"
        actions = [op.get("soapAction") for op in root.iter(f"{{{WSDL_SOAP}}}operation")]
        assert sorted(actions) == sorted(root.get("targetNamespace") + op for op in contract.operations)
        assert all(a.isascii() for a in actions)
        [address] = root.iter(f"{{{WSDL_SOAP}}}address")
        assert address.get("location") == f"{ky_env.sim.url}/service/OIR/{name}/1"
        assert contract.schema is not None  # every schema of the package compiles
        xs = "http://www.w3.org/2001/XMLSchema"
        [include] = root.iter(f"{{{xs}}}include")  # the message schema, served beside the WSDL
        assert include.get("schemaLocation") == f"{ky_env.sim.url}/service/OIR/{name}/1?xsd={name}ServiceMsg.xsd"
        messages = etree.fromstring(httpx.get(include.get("schemaLocation"), timeout=10).content)
        requests = [ct for ct in messages.iter(f"{{{xs}}}complexType") if ct.get("name", "").endswith("RequestType")]
        assert len(requests) == len(contract.operations)
        for ct in requests:  # context elements first in every request element
            refs = [el.get("ref", "").split(":")[-1] for el in ct.iter(f"{{{xs}}}element")][:3]
            assert refs == ["CallContext", "AuthorityContext", "InvocationContext"], ct.get("name")
    assert {"AfslutHaeftelse", "AfslutAdministrator", "OpretDebitorkonto", "RetFordringTilstand"} <= set(
        CONTRACTS["DebitorRegistreringAfsend"].operations
    )
    assert "SoegDelfordringTilIndbetaling" in CONTRACTS["DebitorIndbetalingAfsend"].operations


def _client(env: Env, service: str) -> zeep.Client:
    transport = Transport(session=None, timeout=30, operation_timeout=30)
    return zeep.Client(f"{env.sim.url}/service/OIR/{service}/1?wsdl", transport=transport)


def _ctx(service: str, *, agreement: str | None = None, system: str = KY_SYSTEM) -> dict:
    return {
        "AuthorityContext": {"MunicipalityCVR": DEMO_CVR},
        "InvocationContext": {
            "ServiceAgreementUUID": agreement or KY_AGREEMENTS[service],
            "UserSystemUUID": system,
            "UserUUID": str(uuid.UUID(int=5)),
            "ServiceUUID": SERVICE_UUIDS[service],
        },
    }


def _status(answer) -> str:
    return (
        answer.ForretningsValideringsKode
        if hasattr(answer, "ForretningsValideringsKode")
        else answer.Forretningskvittering.ForretningsValideringsKode
    )


def test_zeep_calls_every_operation(ky_env: Env) -> None:
    env = ky_env
    # KY's own account (so the debtor system's coverage later refers to a claim KY knows).
    ky_acc = env.api.post(
        "/accounts", json={"municipality": DEMO_CVR, "debitor": {"cpr": "0303030303"}, "claims": [{"amount": "80.00"}]}
    ).json()["account"]
    ky_claim = ky_acc["claims"][0]

    reg = _client(env, "DebitorRegistreringAfsend")
    acc, claim, sub, admin = (str(uuid.uuid4()) for _ in range(4))
    calls = {}
    calls["OpretDebitorkonto"] = reg.service.OpretDebitorkonto(
        **_ctx("DebitorRegistreringAfsend"),
        Debitorkonto={
            "DebitorkontoUUID": acc,
            "Hovedoplysninger": {"Version": 1, "DebitorkontoType": "Person"},
            "Debitor": {"CPR": "0101701234", "Navn": "Zeep Æblegrød"},
            "Haeftelse": [
                {
                    "HaeftelseUUID": str(uuid.uuid4()),
                    "Rolle": "JuridiskAnsvarlig",
                    "Part": {"CPR": "0101701234"},
                    "GyldigFra": date(2025, 1, 1),
                },
                {
                    "HaeftelseUUID": admin,
                    "Rolle": "Administrator",
                    "Part": {"CPR": "0202020202"},
                    "GyldigFra": date(2025, 1, 1),
                },
            ],
            "Fordring": [
                {
                    "FordringUUID": claim,
                    "FordringstypeUUID": str(uuid.uuid4()),
                    "Forfaldsdato": date(2025, 2, 1),
                    "Beloeb": Decimal("150.00"),
                    "Delfordring": [{"DelfordringUUID": sub, "Beloeb": Decimal("150.00")}],
                }
            ],
        },
    )
    calls["RetFordringTilstand"] = reg.service.RetFordringTilstand(
        **_ctx("DebitorRegistreringAfsend"), DebitorkontoUUID=acc, FordringUUID=claim, Tilstand="Suspenderet"
    )
    calls["AfslutAdministrator"] = reg.service.AfslutAdministrator(
        **_ctx("DebitorRegistreringAfsend"), DebitorkontoUUID=acc, HaeftelseUUID=admin, GyldigTil=date(2025, 6, 30)
    )
    calls["AfslutHaeftelse"] = reg.service.AfslutHaeftelse(
        **_ctx("DebitorRegistreringAfsend"), DebitorkontoUUID=acc, HaeftelseUUID=admin, GyldigTil=date(2025, 6, 1)
    )
    reg.service.RetFordringTilstand(
        **_ctx("DebitorRegistreringAfsend"), DebitorkontoUUID=acc, FordringUUID=claim, Tilstand="Aktiv"
    )

    ind = _client(env, "DebitorIndbetalingAfsend")
    calls["ForetagIndbetaling"] = ind.service.ForetagIndbetaling(
        **_ctx("DebitorIndbetalingAfsend"),
        Indbetaling={
            "IndbetalingUUID": str(uuid.uuid4()),
            "FordringUUID": claim,
            "Beloeb": Decimal("50.00"),
            "Valoerdato": date(2025, 3, 1),
        },
    )
    open_ = ind.service.SoegDelfordringTilIndbetaling(**_ctx("DebitorIndbetalingAfsend"), DebitorkontoUUID=acc)
    calls["SoegDelfordringTilIndbetaling"] = open_
    assert [(d.DelfordringUUID, d.Restbeloeb) for d in open_.DelfordringTilIndbetaling] == [(sub, Decimal("100.00"))]

    q = _client(env, "DebitorForespoergselAfsend")
    found = q.service.SoegDebitorkonto(**_ctx("DebitorForespoergselAfsend"), Part={"CPR": "0101701234"})
    calls["SoegDebitorkonto"] = found
    assert [k.DebitorkontoUUID for k in found.Debitorkonto] == [acc]
    read = q.service.LaesDebitorkonto(**_ctx("DebitorForespoergselAfsend"), DebitorkontoUUID=acc)
    calls["LaesDebitorkonto"] = read
    assert read.Debitorkonto.Restbeloeb == Decimal("100.00")
    assert read.Debitorkonto.Debitor.Navn == "Zeep Æblegrød"
    assert [p.Art for p in read.Debitorkonto.Fordring[0].Postering] == ["Daekning"]

    back = _client(env, "DaekningAfskrivningRegistreringAfsend")
    ctx = _ctx("DaekningAfskrivningRegistreringAfsend", agreement=OPUS_AGREEMENT, system=OPUS_SYSTEM)
    calls["RegistrerDaekning"] = back.service.RegistrerDaekning(
        **ctx,
        Daekning={
            "DaekningUUID": str(uuid.uuid4()),
            "FordringUUID": ky_claim["uuid"],
            "Beloeb": Decimal("30.00"),
            "Dato": date(2025, 3, 2),
        },
    )
    calls["RegistrerAfskrivning"] = back.service.RegistrerAfskrivning(
        **ctx,
        Afskrivning={
            "AfskrivningUUID": str(uuid.uuid4()),
            "FordringUUID": ky_claim["uuid"],
            "Beloeb": Decimal("5.00"),
            "Dato": date(2025, 3, 2),
            "Aarsag": "Smaabeloeb",
        },
    )

    every = {op for c in CONTRACTS.values() for op in c.operations}
    assert set(calls) == every
    assert {name: _status(answer) for name, answer in calls.items()} == dict.fromkeys(every, "ACCEPTERET")
    assert env.api.get(f"/claims/{ky_claim['uuid']}").json()["outstanding"] == "45.00"


def test_receipts_conform_to_the_public_sf2900_schema(ky_env: Env, kombit) -> None:
    """The Forretningskvittering in our answers validates against Kvittering_1.xsd (SF2900, public)."""
    xsd = etree.XMLSchema(etree.parse(str(kombit("itk-dev-serviceplatformen/resources/sf2900/sp/Kvittering_1.xsd"))))
    from tests.ky.messages import PATH, action, coverage

    r = httpx.post(
        ky_env.sim.url + PATH,
        content=coverage(str(uuid.uuid4()), "1.00"),
        headers={"SOAPAction": action(), "Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )
    kv = etree.fromstring(r.content).find(f".//{{{KV}}}Forretningskvittering")
    assert xsd.validate(kv), xsd.error_log
    assert kv.findtext(f"{{{KV}}}ForretningsValideringsKode") == "AFVIST"
