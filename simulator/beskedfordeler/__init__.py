"""The simulated Beskedfordeler (SF1461/SF1462): AMQP send and distribution, dueslag pull and push, and
receivers inside the simulator (such as the simulated KY) registered as push subscribers. See
docs/beskedfordeler.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.beskedfordeler.answers import Retur
from simulator.beskedfordeler.api import admin_router, public_router
from simulator.beskedfordeler.service import Beskedfordeler
from simulator.capabilities import BeskedReceivers, BeskedSenderCheck, BeskedTypes

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class BeskedfordelerComponent:
    name = "beskedfordeler"
    admin_router = admin_router
    public_router = public_router
    provides = (Beskedfordeler, BeskedTypes, BeskedReceivers)
    needs = ()
    wants = (BeskedSenderCheck,)  # the token model's sender check

    async def start(self, rt: Runtime) -> None:
        bf = Beskedfordeler(rt)
        bf.sender_verifier = rt.find(BeskedSenderCheck)
        rt.provide(Beskedfordeler, bf)
        rt.provide(BeskedTypes, bf.cfg)
        rt.provide(BeskedReceivers, bf)
        await bf.start()

    async def stop(self, rt: Runtime) -> None:
        bf = rt.find(Beskedfordeler)
        rt.withdraw(Beskedfordeler)
        rt.withdraw(BeskedTypes)
        rt.withdraw(BeskedReceivers)
        if bf is not None:
            await bf.stop()

    async def health(self, rt: Runtime) -> dict[str, Any]:
        bf = rt.find(Beskedfordeler)
        if bf is None:
            return {
                "ok": False,
                "broker": {
                    "ok": False,
                    "kind": "rabbitmq" if rt.settings.broker_url else "in-process",
                    "error": "not started",
                },
            }
        return await bf.health()


component = BeskedfordelerComponent()

__all__ = ["Beskedfordeler", "Retur", "component"]
