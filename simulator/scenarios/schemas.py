"""The shapes of the scenarios and readiness admin API (/api/scenarios, /api/readiness): typed OpenAPI schemas
of runs, their progress and their results."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class ScenarioInfo(BaseModel):
    """A built-in scenario (messages/scenarios/), or the reason it cannot be loaded."""

    name: str
    title: str | None = None
    description: str | None = None
    municipality: str | None = None
    steps: int | None = None
    error: str | None = None


class Progress(BaseModel):
    done: int
    total: int


class RunSummary(BaseModel):
    id: str
    kind: Literal["scenario", "readiness"]
    name: str
    municipality: str
    created_at: str
    state: str = Field(description="running | finished | cancelled | error")
    verdict: str | None = Field(default=None, description="pass | fail, or the state while not finished")
    progress: Progress
    error: str | None = None


class ExchangeEvidence(BaseModel):
    """A recorded exchange a step saw (GET /api/exchanges/{id})."""

    id: str | None = None
    started_at: str | None = None
    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    origin: str | None = None
    decision: str | None = None
    status: str | None = None
    fault_code: str | None = None
    reason: str | None = None
    route_target: str | None = None
    agreement_uuid: str | None = None
    system_uuid: str | None = None


class CheckOut(BaseModel):
    """One field compared: expected against actual."""

    path: str
    expected: str
    actual: str | None = None
    ok: bool
    note: str | None = None


class StepOut(BaseModel):
    index: int
    label: str
    kind: str
    id: str | None = None
    item: str | None = None
    verdict: str = Field(description="pending | pass | fail | error | skipped")
    message: str | None = None
    started_at: str | None = None
    duration_ms: float
    exchanges: list[ExchangeEvidence]
    checks: list[CheckOut]
    diff: str | None = None
    actual_xml: str | None = None


class Counts(BaseModel):
    pass_: int = Field(alias="pass")
    fail: int
    error: int
    skipped: int


class ScenarioResult(BaseModel):
    kind: Literal["scenario"] = "scenario"
    run_id: str
    scenario: str
    municipality: str
    session: str
    target: str | None = None
    started_at: str
    finished_at: str | None = None
    duration_ms: float
    variables: dict[str, str]
    steps: list[StepOut]
    state: str
    verdict: str
    counts: Counts


class Difference(BaseModel):
    field: str = Field(
        description="the answer/message and the field, e.g. LaesDebitorkonto …/Fordring[<uuid>]/Restbeloeb"
    )
    expected: str = Field(description="KY's ledger value (or the rule)")
    actual: str = Field(description="what the debtor system said or did")
    source: str | None = Field(default=None, description="the exchange or message id it comes from")


class ReadinessItem(BaseModel):
    id: str = Field(description="checklist item: 1a … 3")
    title: str
    verdict: str = Field(description="pass | fail | skipped (needs an item that failed)")
    summary: str
    evidence: list[dict[str, Any]] = Field(description="exchanges, messages, agreements, ledger values")
    missing: str | None = None
    fix: str | None = None
    steps: list[StepOut]
    differences: list[Difference] = Field(
        default_factory=list, description="where the debtor system and KY's ledger disagree"
    )
    fejl: list[dict[str, str]] = Field(default_factory=list, description="the FejlKode/FejlTekst pairs of the receipts")
    links: list[str] = Field(default_factory=list, description="the exchanges and messages the evidence names")


class ReadinessResult(BaseModel):
    kind: Literal["readiness"] = "readiness"
    checklist: str
    municipality: str
    municipality_name: str
    debtor_system: str | None = None
    session: str | None = None
    started_at: str
    finished_at: str | None = None
    state: str
    verdict: str
    validation: str = Field(default="strict", description="how every call of the run was validated")
    evidence_window: str | None = Field(default=None, description="how old a write-off (1d) may be")
    items: list[ReadinessItem]
    run: ScenarioResult | None = None


RunResultOut = Annotated[ScenarioResult | ReadinessResult, Field(discriminator="kind")]


class RunDetail(RunSummary):
    events: list[dict[str, Any]] = Field(description="progress events after `after`")
    event_count: int
    result: RunResultOut | None = Field(default=None, description="the (partial) result")


class Recorded(BaseModel):
    yaml: str = Field(description="the scenario file's text")
    scenario: dict[str, Any] = Field(description="the scenario as JSON (docs/scenario.schema.json)")


REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report: html (self-contained), xml (JUnit) or json (the run's result)",
        "model": RunResultOut,
        "content": {"text/html": {"schema": {"type": "string"}}, "application/xml": {"schema": {"type": "string"}}},
    }
}
