"""The simulated KY: reference SF1590_B contracts, KY's ledger, its calls to the debtor systems and
the ``builtin:ky`` handler for coverages and write-offs. Importing registers the contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.capabilities import KyActions, StatusChangeSink
from simulator.ky import contracts  # noqa: F401 - registers the sf1590/* contracts
from simulator.ky.api import router
from simulator.ky.handler import make_handler
from simulator.ky.ledger import KyLedger

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class KyComponent:
    name = "ky"
    admin_router = router
    public_router = None
    provides = (KyLedger, KyActions, StatusChangeSink)
    needs = ()
    wants = ()

    async def start(self, rt: Runtime) -> None:
        ledger = KyLedger(rt)
        for capability in self.provides:
            rt.provide(capability, ledger)
        rt.handlers["ky"] = make_handler(ledger)

    async def stop(self, rt: Runtime) -> None:
        rt.handlers.pop("ky", None)
        ledger = rt.find(KyLedger)
        for capability in self.provides:
            rt.withdraw(capability)
        if ledger is not None:
            await ledger.bookings.stop()

    async def health(self, rt: Runtime) -> dict[str, Any]:
        return {"ok": rt.find(KyLedger) is not None and "ky" in rt.handlers}


component = KyComponent()

__all__ = ["KyLedger", "component"]
