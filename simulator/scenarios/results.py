"""What a scenario run produces: a verdict per step with its evidence (exchanges, checks, diff) and the run's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class StepResult:
    index: int
    label: str
    kind: str
    id: str | None = None
    item: str | None = None
    verdict: str = "pending"  # pass | fail | error | skipped
    message: str | None = None
    started_at: str | None = None
    duration_ms: float = 0.0
    exchanges: list[dict[str, Any]] = field(default_factory=list)  # evidence: id, service, operation, decision…
    checks: list[dict[str, Any]] = field(default_factory=list)
    diff: str | None = None
    actual_xml: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class RunResult:
    run_id: str
    scenario: str
    municipality: str
    session: str
    target: str | None
    started_at: str
    finished_at: str | None = None
    duration_ms: float = 0.0
    variables: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    state: str = "running"  # running | finished | cancelled | error

    @property
    def verdict(self) -> str:
        if self.state == "running":
            return "running"
        return "pass" if self.steps and all(s.passed for s in self.steps) else "fail"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        out = {"kind": "scenario"} | {k: v for k, v in self.__dict__.items() if k != "steps"}
        out["verdict"] = self.verdict
        out["steps"] = [s.as_dict() for s in self.steps]
        out["counts"] = {v: sum(1 for s in self.steps if s.verdict == v) for v in ("pass", "fail", "error", "skipped")}
        return out


def exchange_evidence(row: dict[str, Any]) -> dict[str, Any]:
    started = row.get("started_at")
    return {
        "id": row.get("id"),
        "started_at": started.isoformat() if isinstance(started, datetime) else started,
        "service": row.get("service"),
        "operation": row.get("operation"),
        "municipality": row.get("municipality"),
        "origin": row.get("origin"),
        "decision": row.get("decision"),
        "status": row.get("status"),
        "fault_code": row.get("fault_code"),
        "reason": row.get("reason"),
        "route_target": row.get("route_target"),
        "agreement_uuid": row.get("agreement_uuid"),
        "system_uuid": row.get("system_uuid"),
    }
