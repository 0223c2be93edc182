"""Runs started through the admin API: asyncio tasks with progress, kept in memory (newest 200)."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulator.scenarios.engine import ScenarioRun
from simulator.scenarios.model import Scenario
from simulator.scenarios.readiness import EVIDENCE_WINDOW_DAYS, Readiness

if TYPE_CHECKING:
    from simulator.runtime import Runtime

KEEP = 200


@dataclass
class Job:
    id: str
    kind: str  # scenario | readiness
    name: str
    municipality: str
    created_at: str
    task: asyncio.Task | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    runner: Any = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.task is None or not self.task.done():
            return "running"
        if self.task.cancelled():
            return "cancelled"
        return "error" if self.error else "finished"

    def progress(self) -> dict[str, Any]:
        steps = self.result().get("steps") or (self.result().get("run") or {}).get("steps") or []
        done = sum(1 for s in steps if s["verdict"] not in ("pending",))
        return {"done": done, "total": len(steps)}

    def result(self) -> dict[str, Any]:
        if self.runner is None:
            return {}
        return self.runner.report.as_dict() if self.kind == "readiness" else self.runner.result.as_dict()

    def summary(self) -> dict[str, Any]:
        r = self.result()
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "municipality": self.municipality,
            "created_at": self.created_at,
            "state": self.state,
            "verdict": r.get("verdict") if self.state == "finished" else self.state,
            "progress": self.progress(),
            "error": self.error,
        }


class RunManager:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    def running(self) -> int:
        return sum(1 for j in self.jobs.values() if j.state == "running")

    def _add(self, job: Job, runner: Any) -> Job:
        job.runner = runner

        async def go() -> None:
            try:
                await runner.execute()
            except Exception as e:  # noqa: BLE001 - recorded on the job
                job.error = f"{type(e).__name__}: {e}"
            finally:
                job.changed.set()

        job.task = asyncio.create_task(go(), name=f"scenario-job-{job.id}")
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP:
            oldest = next(iter(self.jobs))
            if self.jobs[oldest].state == "running":
                break
            self.jobs.pop(oldest)
        return job

    def _listener(self, job: Job):
        def on(event: dict[str, Any]) -> None:
            job.events.append(event | {"at": datetime.now(UTC).isoformat()})
            job.changed.set()

        return on

    def start_scenario(self, scenario: Scenario, municipality: str | None, target: str | None = None) -> Job:
        job = Job(
            str(uuid.uuid4()),
            "scenario",
            scenario.name,
            municipality or scenario.municipality or "",
            datetime.now(UTC).isoformat(),
        )
        runner = ScenarioRun(
            self.rt,
            scenario,
            municipality=municipality,
            target=target,
            on_progress=self._listener(job),
            session=f"scenario-{job.id[:8]}",
        )
        job.municipality = runner.municipality
        return self._add(job, runner)

    def start_readiness(
        self,
        municipality: str,
        target: str | None = None,
        within_s: float | None = None,
        evidence_window_days: float = EVIDENCE_WINDOW_DAYS,
    ) -> Job:
        job = Job(str(uuid.uuid4()), "readiness", "SA 05 readiness", municipality, datetime.now(UTC).isoformat())
        runner = Readiness(
            self.rt,
            municipality,
            target=target,
            within_s=within_s,
            evidence_window_days=evidence_window_days,
            on_progress=self._listener(job),
        )
        return self._add(job, runner)

    async def wait(self, job_id: str, timeout: float) -> Job:
        job = self.jobs[job_id]
        if job.task is not None and not job.task.done():
            await asyncio.wait({job.task}, timeout=timeout)
        return job

    async def cancel_all(self) -> None:
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                job.task.cancel()
        tasks = [j.task for j in self.jobs.values() if j.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
