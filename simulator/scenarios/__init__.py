"""QA scenarios: record traffic into scenario files, replay them with per-step verdicts and diffs, and
the SA 05 readiness report. See docs/scenarios.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.capabilities import BeskedTypes, KyActions, SortimentDelivery
from simulator.scenarios.api import router
from simulator.scenarios.runs import RunManager

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class ScenariosComponent:
    name = "scenarios"
    admin_router = router
    public_router = None
    provides = (RunManager,)
    needs = ()
    wants = (KyActions, BeskedTypes, SortimentDelivery)  # what the steps and readiness items drive

    async def start(self, rt: Runtime) -> None:
        rt.provide(RunManager, RunManager(rt))

    async def stop(self, rt: Runtime) -> None:
        manager = rt.find(RunManager)
        rt.withdraw(RunManager)
        if manager is not None:
            await manager.cancel_all()

    async def health(self, rt: Runtime) -> dict[str, Any]:
        manager = rt.find(RunManager)
        return {"ok": manager is not None, "running": manager.running() if manager else 0}


component = ScenariosComponent()
