"""The calls KY makes to the municipalities' debtor systems: sent through the platform as the route table's KY
system (`Runtime.call_as`: agreement, route, recording like any caller), the answer read into a `SendResult`;
the queries (SF1590_B_02, B_03 search) also read their items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from simulator.ky import messages as m
from simulator.ky.errors import KyError
from simulator.runtime import PlatformCallError
from simulator.soap.envelope import parse_envelope
from simulator.soap.errors import SoapFaultError
from simulator.soap.kvittering import Kvittering, read_kvittering
from simulator.soap.ns import SOAP11, SP_FAULT

if TYPE_CHECKING:
    from simulator.runtime import Runtime

KY_USER_UUID = "00000000-0000-4000-8000-00000000c0de"


@dataclass
class SendResult:
    """What came back from a call KY made through the platform."""

    service: str
    operation: str
    exchange_id: str
    kvittering: Kvittering
    fault_code: str | None = None
    fault_text: str | None = None
    payload: etree._Element | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.fault_code is None and self.kvittering.accepted

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "exchange_id": self.exchange_id,
            "accepted": self.accepted,
            "kvittering": self.kvittering.as_dict(),
        }
        if self.fault_code:
            out["fault"] = {"code": self.fault_code, "text": self.fault_text}
        return out


class KyClient:
    """KY as a caller of the debtor systems."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _ky_system(self) -> str:
        for s in self.rt.routes.systems.values():
            if s.kind == "ky":
                return s.key
        raise KyError(409, "no it-system of kind 'ky' in routes/systems.yaml")

    async def send(self, municipality: str, service: str, request: etree._Element) -> SendResult:
        """Send a request element (see simulator.ky.messages) as KY on behalf of the municipality."""
        operation = etree.QName(request).localname.removesuffix("Request")
        system = self._ky_system()
        try:
            resp = await self.rt.call_as(system, municipality, service, request, origin="ky", user_uuid=KY_USER_UUID)
        except PlatformCallError as e:
            raise KyError(409, str(e)) from None
        result = SendResult(service, operation, resp.exchange_id, Kvittering("FEJLET"))
        try:
            env = parse_envelope(resp.body)
        except SoapFaultError as e:
            result.fault_code, result.fault_text = "KY-NO-ANSWER", e.text
            result.kvittering = Kvittering("FEJLET", f"no SOAP answer: {e.text}")
            return result
        payload = env.payload
        if payload is None or payload.tag == f"{{{SOAP11}}}Fault":
            code = payload.findtext(f".//{{{SP_FAULT}}}ErrorCode") if payload is not None else None
            text = (
                payload.findtext(f".//{{{SP_FAULT}}}ErrorText") or payload.findtext("faultstring")
                if payload is not None
                else "empty Body"
            )
            result.fault_code, result.fault_text = code or resp.fault_code or "FAULT", text
            result.kvittering = Kvittering("FEJLET", f"SOAP fault {result.fault_code}: {text}")
            return result
        result.payload = payload
        result.kvittering = read_kvittering(payload)
        return result

    # -- queries (SF1590_B_02, B_03) ------------------------------------------------------------------------

    async def search_accounts(self, municipality: str, *, cpr: str | None = None, cvr: str | None = None) -> dict:
        """SoegDebitorkonto: the debtor system's accounts of a CPR/CVR."""
        if bool(cpr) == bool(cvr):
            raise KyError(422, "search by exactly one of cpr or cvr")
        result = await self.send(municipality, "DebitorForespoergselAfsend", m.soeg_debitorkonto(cpr, cvr))
        return {"sent": result.as_dict(), "accounts": m.read_account_overviews(result.payload)}

    async def read_account(self, municipality: str, account_uuid: str) -> dict[str, Any]:
        """LaesDebitorkonto: the account as the debtor system sees it."""
        result = await self.send(municipality, "DebitorForespoergselAfsend", m.laes_debitorkonto(account_uuid))
        return {"sent": result.as_dict(), "account": m.read_account(result.payload)}

    async def open_subclaims(
        self, municipality: str, *, account_uuid: str | None = None, cpr: str | None = None, cvr: str | None = None
    ) -> dict[str, Any]:
        """SoegDelfordringTilIndbetaling: sub-claims open for payment."""
        request = m.soeg_delfordring_til_indbetaling(account_uuid, cpr, cvr)
        result = await self.send(municipality, "DebitorIndbetalingAfsend", request)
        return {"sent": result.as_dict(), "subclaims": m.read_open_subclaims(result.payload)}
