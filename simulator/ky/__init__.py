"""The simulated KY: reference SF1590_B contracts, KY's ledger, its calls to the debtor systems and
the ``builtin:ky`` handler for coverages and write-offs. Importing registers the contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from simulator.capabilities import BeskedReceivers, BeskedTypes, KyActions, StatusChangeSink
from simulator.ky import besked_receiver, contracts  # noqa: F401 - contracts registers the sf1590/* contracts
from simulator.ky.api import router
from simulator.ky.handler import make_handler
from simulator.ky.ledger import KyLedger

if TYPE_CHECKING:
    from simulator.runtime import Runtime


admin_router = APIRouter()
admin_router.include_router(router)
admin_router.include_router(besked_receiver.router)


class KyComponent:
    name = "ky"
    admin_router = admin_router
    public_router = None
    provides = (KyLedger, KyActions, StatusChangeSink)
    needs = ()
    wants = (BeskedReceivers, BeskedTypes)  # KY subscribes to the debtor messages (push dueslag builtin:ky)

    async def start(self, rt: Runtime) -> None:
        ledger = KyLedger(rt)
        for capability in self.provides:
            rt.provide(capability, ledger)
        rt.handlers["ky"] = make_handler(ledger)
        receivers, types = rt.find(BeskedReceivers), rt.find(BeskedTypes)
        if receivers is not None and types is not None:
            await receivers.register(besked_receiver.CALLBACK, besked_receiver.KyBeskedReceiver(rt.db, ledger, types))

    async def stop(self, rt: Runtime) -> None:
        receivers = rt.find(BeskedReceivers)
        if receivers is not None:
            await receivers.unregister(besked_receiver.CALLBACK)
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
