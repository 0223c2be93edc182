"""What an exchange came to, for people: `ok`, a business `refusal` (the answer's Forretningskvittering says
AFVIST or FEJLET, with its FejlKode) or a platform `fault` (a SOAP fault, with its code). The traffic list,
the live feed and the account timeline show it; the traffic filter selects by it (ExchangeFilter.outcome)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from simulator.traffic.query import REFUSAL_MARKS

_STATUS = re.compile(r"(?:ForretningsValideringsKode|Forretningskvittering)>\s*(AFVIST|FEJLET)\s*<")
_CODE = re.compile(r"FejlKode>\s*([^<\s][^<]*?)\s*<")
LABELS = {"ok": "ok", "refusal": "business refusal", "fault": "platform fault"}


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | refusal | fault
    code: str | None = None  # the FejlKode of a refusal, the fault code of a fault
    status: str | None = None  # AFVIST | FEJLET for a refusal

    @property
    def label(self) -> str:
        parts = [LABELS[self.kind]]
        if self.status:
            parts.append(self.status)
        if self.code:
            parts.append(self.code)
        return " · ".join(parts)


def refusal_in(body: str) -> Outcome | None:
    """The business refusal a response body carries, if any."""
    if not any(m in body for m in REFUSAL_MARKS):
        return None
    status = _STATUS.search(body)
    code = _CODE.search(body)
    return Outcome("refusal", code.group(1) if code else None, status.group(1) if status else None)


def outcome_of(row: dict[str, Any], body: str | None = None) -> Outcome:
    """The outcome of a recorded exchange (`body`: its response body, when a refusal is possible)."""
    if row.get("status") == "fault":
        return Outcome("fault", row.get("fault_code"))
    return (refusal_in(body) if body else None) or Outcome("ok")


async def outcomes_of(rt, rows: list[dict[str, Any]]) -> dict[str, Outcome]:
    """The outcome of each summary row (no bodies): the refusals' bodies are read from the store."""
    bodies = await rt.exchanges.refusals([r["id"] for r in rows if r.get("status") == "ok"])
    return {r["id"]: outcome_of(r, bodies.get(r["id"])) for r in rows}
