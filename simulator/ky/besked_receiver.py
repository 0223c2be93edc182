"""The simulated KY as a Beskedfordeler subscriber: its push dueslag names `callback: builtin:ky`, and this
receiver reads each ModtagBeskedInput as a real receiver would, records it (idempotent per BeskedId) and hands
status changes and claims open for payment to KY's ledger (`StatusChangeSink`). It registers with the
Beskedfordeler (`BeskedReceivers`) like any receiver; without KY loaded, the dueslag's messages wait."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from lxml import etree
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from simulator.beskedfordeler import kuvert as kv
from simulator.beskedfordeler.debtor_messages import FORDRING_TIL_INDBETALING, STATUSSKIFT
from simulator.capabilities import BeskedTypes, StatusChangeSink
from simulator.soap.errors import SoapFaultError
from simulator.store import Base, Database
from simulator.web.deps import RuntimeDep, require_admin

log = logging.getLogger(__name__)

CALLBACK = "builtin:ky"
_BigId = BigInteger().with_variant(Integer, "sqlite")


class BfKyModtaget(Base):
    """What the simulated KY received from its dueslag (idempotent per BeskedId; table of the Beskedfordeler's
    migration branch, where KY's reception began)."""

    __tablename__ = "bf_ky_modtaget"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    besked_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    beskedtype: Mapped[str] = mapped_column(String(64), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    data: Mapped[dict] = mapped_column(JSON, nullable=False)


def _text(el: etree._Element | None) -> str | None:
    return el.text.strip() if el is not None and el.text else None


def read_debtor_message(types: BeskedTypes, besked: kv.Besked) -> tuple[str | None, dict[str, Any]]:
    """(beskedtype name, the facts KY records) of a received message; unknown types give (None, {})."""
    bt = types.beskedtyper.get(besked.beskedtype)
    if bt is None or not besked.beskeddata:
        return (bt.name if bt else None), {}
    payload = kv.beskeddata_payload(besked.beskeddata[0])
    if payload is None:
        return bt.name, {}
    ns = bt.namespace or etree.QName(payload).namespace

    def t(name: str, parent: etree._Element = payload) -> str | None:
        return _text(parent.find(f"{{{ns}}}{name}"))

    if bt.name == STATUSSKIFT:
        return bt.name, {
            "debitorkonto_uuid": t("DebitorkontoUUID"),
            "status": t("Status"),
            "forrige_status": t("ForrigeStatus"),
            "at": t("StatusTidspunkt"),
            "begrundelse": t("Begrundelse"),
            "municipality": t("MyndighedCVR"),
        }
    if bt.name == FORDRING_TIL_INDBETALING:
        payers = payload.find(f"{{{ns}}}BetalendeMyndigheder")
        authorities = [_text(m) for m in payers.findall(f"{{{ns}}}MyndighedCVR")] if payers is not None else []
        return bt.name, {
            "fordring_uuid": t("FordringUUID"),
            "debitorkonto_uuid": t("DebitorkontoUUID"),
            "authorities": authorities,
            "period_from": t("PeriodeFra"),
            "period_to": t("PeriodeTil"),
            "beloeb": t("Beloeb"),
            "municipality": t("MyndighedCVR"),
        }
    return bt.name, {}


class KyBeskedReceiver:
    """KY's push receiver: `await receiver(ModtagBeskedInput bytes)` → (StatusKode, FejlbeskedTekst)."""

    def __init__(self, db: Database, ledger: StatusChangeSink, types: BeskedTypes) -> None:
        self.db = db
        self.ledger = ledger
        self.types = types

    async def __call__(self, body: bytes) -> tuple[int, str]:
        try:
            root = kv.parse_copy(body)
        except SoapFaultError as e:
            return 40, f"not XML: {e.text}"
        besked_el = root.find(kv.k("Haendelsesbesked"))
        if root.tag != f"{{{kv.STS}}}ModtagBeskedInput" or besked_el is None:
            return 40, "not a ModtagBeskedInput"
        besked = kv.read_besked(besked_el)
        name, data = read_debtor_message(self.types, besked)
        municipality = next((kv.cvr_of(m) for m in besked.myndigheder if m), None) or ""
        async with self.db.session() as s:
            seen = await s.scalar(select(BfKyModtaget.seq).where(BfKyModtaget.besked_id == besked.besked_id))
        if seen is not None:
            return 20, ""
        try:
            await self._book(name, municipality, data, besked.besked_id)
        except Exception as e:  # noqa: BLE001 - KY cannot take it now: 40 = pause and retry
            log.exception("KY could not record %s", besked.besked_id)
            return 40, f"KY could not record the message: {type(e).__name__}: {e}"
        async with self.db.session() as s, s.begin():
            s.add(
                BfKyModtaget(
                    besked_id=besked.besked_id,
                    beskedtype=name or besked.beskedtype,
                    municipality=municipality,
                    received_at=datetime.now(UTC),
                    data=data,
                )
            )
        return 20, ""

    async def _book(self, name: str | None, municipality: str, data: dict[str, Any], besked_id: str) -> None:
        if name == STATUSSKIFT:
            await self.ledger.record_status_change(
                municipality, data["debitorkonto_uuid"], data["status"], datetime.fromisoformat(data["at"]), besked_id
            )
        elif name == FORDRING_TIL_INDBETALING:
            await self.ledger.record_fordring_til_indbetaling(
                municipality,
                data["fordring_uuid"],
                data["authorities"],
                date.fromisoformat(data["period_from"]) if data.get("period_from") else None,
                date.fromisoformat(data["period_to"]) if data.get("period_to") else None,
                besked_id,
            )


# -- admin ---------------------------------------------------------------------------------------------------

router = APIRouter(prefix="/beskedfordeler/ky", tags=["beskedfordeler"], dependencies=[Depends(require_admin)])


class Modtaget(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    besked_id: str
    beskedtype: str
    municipality: str
    received_at: datetime
    data: dict[str, Any]


@router.get("/modtaget", response_model=list[Modtaget])
async def modtaget(
    rt: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100, beskedtype: str | None = None
) -> list[BfKyModtaget]:
    """What the simulated KY received from its dueslag (status changes, claims open for payment), newest first."""
    q = select(BfKyModtaget).order_by(BfKyModtaget.seq.desc()).limit(limit)
    if beskedtype:
        q = q.where(BfKyModtaget.beskedtype == beskedtype)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())
