"""What flows through the pipeline: the request, the response, and the call a built-in handler gets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

from simulator.serviceplatform.routefiles import AgreementDef, ServiceDef, SystemDef
from simulator.soap.context import RequestContext
from simulator.soap.contract import Operation
from simulator.soap.envelope import Envelope

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass
class SoapRequest:
    path: str
    body: bytes
    soap_action: str | None = None
    origin: str = "http"  # http, or the simulator component that originates the call (ky, …)
    session: str | None = None
    correlation_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    client_cert: str | bytes | None = None  # the TLS client certificate (PEM or DER), when one was presented
    target_override: str | None = None  # send to this provider URL instead of the route's (scenario --target)
    validation: str | None = None  # strict | lenient | off for this call instead of the service's (a readiness run)
    caller_system: str | None = None  # the simulator's own call: the system it calls as (no InvocationContext needed)


@dataclass
class AuthResult:
    """What a call's credentials prove (simulator/security): the system key and/or the municipality CVR."""

    model: str  # certificate | token
    system: str | None = None
    municipality: str | None = None


class Authenticator(Protocol):
    """Checks a call's certificate or token; raises SoapFaultError to refuse (simulator/security)."""

    async def authenticate(
        self, request: SoapRequest, envelope: Envelope, ctx: RequestContext, service: ServiceDef
    ) -> AuthResult | None: ...


@dataclass
class SoapResponse:
    status: int
    body: bytes
    exchange_id: str
    content_type: str = SOAP_CONTENT_TYPE
    fault_code: str | None = None
    drop_connection: bool = False

    @property
    def ok(self) -> bool:
        return self.fault_code is None and self.status < 400


@dataclass
class SoapCall:
    """A call that passed every check, as a built-in handler receives it."""

    exchange_id: str
    service: ServiceDef
    operation: Operation
    municipality: str
    system: SystemDef
    agreement: AgreementDef
    context: RequestContext
    envelope: Envelope

    @property
    def payload(self) -> etree._Element:
        """The request element (its first children are the context elements)."""
        return self.envelope.payload


RowFinisher = Callable[[bytes], dict[str, Any]]
"""The pipeline's last step for a call whose answer is `body`: the exchange row to record (synchronous, pure)."""


@dataclass(frozen=True)
class CommittedAnswer:
    """An answer decided where the handler's work is committed (KY's bookings). ``await commit(finish)`` does the
    work in the database writer's transaction, builds the answer there, writes the exchange row ``finish(body)``
    gives in that same transaction, and returns the body once it is committed: one commit per call, not one for
    the work and one for the record. Raising (the database is unavailable) means nothing was written; the
    pipeline then answers and records a fault as usual."""

    commit: Callable[[RowFinisher], Awaitable[bytes]]


Handler = Callable[[SoapCall], Awaitable[etree._Element | bytes | CommittedAnswer]]
"""A built-in route target: the response element, the whole response envelope as bytes (built from a template
on a hot path), or a CommittedAnswer; raises SoapFaultError to refuse."""
