"""The simulated Beskedfordeler (SF1461/SF1462): AMQP send and distribution, dueslag pull and push, and
the simulated KY's subscription to the debtor messages. See docs/beskedfordeler.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.beskedfordeler.api import admin_router, public_router
from simulator.beskedfordeler.service import Beskedfordeler, Retur
from simulator.capabilities import BeskedSenderCheck, BeskedTypes, StatusChangeSink

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class BeskedfordelerComponent:
    name = "beskedfordeler"
    admin_router = admin_router
    public_router = public_router
    provides = (Beskedfordeler, BeskedTypes)
    needs = ()
    wants = (StatusChangeSink, BeskedSenderCheck)  # KY's receiver; the token model's sender check

    async def start(self, rt: Runtime) -> None:
        bf = Beskedfordeler(rt)
        bf.sender_verifier = rt.find(BeskedSenderCheck)
        rt.provide(Beskedfordeler, bf)
        rt.provide(BeskedTypes, bf.cfg)
        await bf.start()

    async def stop(self, rt: Runtime) -> None:
        bf = rt.find(Beskedfordeler)
        rt.withdraw(Beskedfordeler)
        rt.withdraw(BeskedTypes)
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
