"""QA scenarios: record traffic into scenario files, replay them with per-step verdicts and diffs, and
the SA 05 readiness report. See docs/scenarios.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.scenarios.api import router
from simulator.scenarios.runs import RunManager

if TYPE_CHECKING:
    from simulator.runtime import Runtime


class ScenariosComponent:
    name = "scenarios"
    admin_router = router
    public_router = None

    async def start(self, rt: Runtime) -> None:
        rt.state["scenarios"] = RunManager(rt)

    async def stop(self, rt: Runtime) -> None:
        manager = rt.state.pop("scenarios", None)
        if manager is not None:
            await manager.cancel_all()

    async def health(self, rt: Runtime) -> dict[str, Any]:
        manager = rt.state.get("scenarios")
        return {"ok": manager is not None, "running": manager.running() if manager else 0}


component = ScenariosComponent()
