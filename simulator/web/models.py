"""What the core admin API (`web/api.py`) takes and answers, as pydantic models: the OpenAPI document's
schemas, and the validation the UI's configuration forms share with the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from simulator.serviceplatform import AgreementDef, RouteDef
from simulator.serviceplatform.routefiles import MunicipalityDef, ServiceDef, SystemDef, check_fault
from simulator.traffic import ExchangeFilter

Outcome = Literal["ok", "refusal", "fault"]

# -- traffic ---------------------------------------------------------------------------------------


class ExchangeQuery(BaseModel):
    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    system_uuid: str | None = None
    status: Literal["ok", "fault"] | None = None
    fault_code: str | None = None
    decision: str | None = None
    origin: str | None = None
    session: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def to_filter(self) -> ExchangeFilter:
        return ExchangeFilter(**self.model_dump(include=set(ExchangeQuery.model_fields)))


class Verification(ExchangeQuery):
    count: int | None = Field(default=None, ge=0, description="exact number expected; default: at least one")


class ExchangeSummary(BaseModel):
    """One recorded exchange without its bodies (fields without a value may be left out)."""

    seq: int
    id: str
    started_at: datetime
    duration_ms: float
    origin: str
    service: str | None = None
    operation: str | None = None
    municipality: str | None = None
    system_uuid: str | None = None
    agreement_uuid: str | None = None
    route_target: str | None = None
    decision: str
    reason: str
    status: str = Field(description="ok | fault")
    fault_code: str | None = None
    http_status: int
    callers_call_id: str | None = None
    correlation_id: str | None = None
    session: str | None = None
    provider_ms: float | None = None
    request_truncated: bool
    response_truncated: bool
    violations: list[Any] | None = None
    context: dict[str, Any] | None = None


class Exchange(ExchangeSummary):
    """One recorded exchange with its request and response bodies (cut at SIMULATOR_RECORD_BODY_MAX_BYTES)."""

    request_body: str
    response_body: str


class ExchangePage(BaseModel):
    items: list[ExchangeSummary]
    next_before: int | None = Field(description="pass as `before` for the next page; null on the last page")


class VerificationResult(BaseModel):
    ok: bool
    expected: int | str = Field(description="the count asked for, or '>=1'")
    found: int
    matches_per_criterion: dict[str, int] | None = Field(
        default=None, description="on failure: how many exchanges match each criterion on its own"
    )
    recent: list[ExchangeSummary] | None = Field(default=None, description="on failure: the newest calls")


class Deleted(BaseModel):
    deleted: bool


class DeletedCount(BaseModel):
    deleted: int


# -- configuration ---------------------------------------------------------------------------------


class Fault(BaseModel):
    delay_ms: int | None = Field(default=None, ge=0, title="Delay (ms)")
    soap_fault: str | None = Field(
        default=None, title="SOAP fault", description="answer with a SOAP fault with this ErrorCode"
    )
    http_status: int | None = Field(default=None, ge=400, le=599, title="HTTP status")
    drop_connection: bool | None = Field(default=None, title="Drop the connection")

    def as_route_fault(self) -> dict[str, Any] | None:
        """The route's `fault` mapping (None for no fault), checked as the route files are."""
        fault = self.model_dump(exclude_none=True) or None
        if fault and (problem := check_fault(fault)):
            raise ValueError(problem)
        return fault


class RouteIn(BaseModel):
    service: str
    municipality: str = Field(description="CVR, or * for every municipality without its own route")
    target: str = Field(description="builtin:<handler> or a provider URL")
    fault: Fault | None = None

    def to_route(self, position: int = 0) -> RouteDef:
        fault = self.fault.as_route_fault() if self.fault else None
        return RouteDef(
            service=self.service, municipality=self.municipality, target=self.target, fault=fault, position=position
        )


class RouteOut(BaseModel):
    id: str = Field(description="<service>:<municipality>")
    service: str
    municipality: str
    target: str
    fault: dict[str, Any] | None
    origin: str = Field(description="file | api")
    position: int

    @classmethod
    def of(cls, r: RouteDef) -> RouteOut:
        return cls(id=r.id, **asdict(r))


class AgreementIn(BaseModel):
    uuid: str
    system: str = Field(description="system key or UUID")
    municipality: str
    service: str
    beskedtyper: list[str] | None = None
    active: bool = True

    def to_agreement(self) -> AgreementDef:
        return AgreementDef(**self.model_dump())


class AgreementOut(BaseModel):
    uuid: str
    system: str
    municipality: str
    service: str
    beskedtyper: list[str] | None
    active: bool
    origin: str = Field(description="file | api")

    @classmethod
    def of(cls, a: AgreementDef) -> AgreementOut:
        return cls(**asdict(a))


@dataclass(frozen=True)
class ServiceOut(ServiceDef):
    wsdl: str | None = None  # the WSDL's address (SOAP services)


SystemOut = SystemDef
MunicipalityOut = MunicipalityDef


def problems_of(e: ValidationError) -> str:
    """A pydantic validation error as one line a person reads: `<field title>: <message>; …`."""
    out = []
    for err in e.errors():
        names = [str(p) for p in err["loc"] if not isinstance(p, int)]
        field = Fault.model_fields.get(names[-1]) if names else None
        where = (field.title if field is not None and field.title else " ".join(names)) or "input"
        out.append(f"{where}: {err['msg']}")
    return "; ".join(out)


class Reloaded(BaseModel):
    """What `POST /api/routes/reload` applied from the route files."""

    directory: str
    municipalities: list[str] = Field(description="CVR numbers in the route table now")
    routes: int
    agreements: int
    subscriptions_added: list[str] = Field(description="sortiment subscriptions started (<cvr>:<system>)")
