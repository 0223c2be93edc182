"""The pipeline every Serviceplatform call walks:

parse → service → operation → context → validation → agreement → route → (fault injection) →
dispatch (built-in handler or forward to the provider) → record → respond.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from simulator.outbound import HttpClient, HttpError
from simulator.serviceplatform.caller import implicit_agreement
from simulator.serviceplatform.routefiles import AgreementDef, RouteDef, ServiceDef, SystemDef
from simulator.serviceplatform.routetable import RouteTable
from simulator.serviceplatform.types import (
    SOAP_CONTENT_TYPE,
    Authenticator,
    CommittedAnswer,
    Handler,
    SoapCall,
    SoapRequest,
    SoapResponse,
)
from simulator.soap.context import RequestContext, read_context
from simulator.soap.contract import Contract, Operation, find_operation, get_contract
from simulator.soap.envelope import Envelope, build_envelope, build_fault, fault_code_of, parse_envelope, parse_xml
from simulator.soap.envelope import check_media_type as check_soap11_media_type
from simulator.soap.errors import ErrorCode, SoapFaultError
from simulator.soap.ns import SOAP11
from simulator.store.ids import exchange_id
from simulator.traffic.recorder import Recorder, truncate_body


class _Trace:
    """What the pipeline learned about one exchange, in the shape of a recorded row."""

    def __init__(self, request: SoapRequest) -> None:
        self.t0 = time.perf_counter()
        self.recorded = False  # written with the handler's work (CommittedAnswer)
        self.row: dict[str, Any] = {
            "id": exchange_id(),
            "started_at": datetime.now(UTC),
            "origin": request.origin,
            "session": request.session,
            "correlation_id": request.correlation_id,
            "decision": "refused",
            "reason": "",
            "violations": None,
            "context": None,
            "provider_ms": None,
            "service": None,
            "operation": None,
            "municipality": None,
            "system_uuid": None,
            "agreement_uuid": None,
            "route_target": None,
            "callers_call_id": None,
        }

    def set(self, **kw: Any) -> None:
        self.row.update(kw)


class Pipeline:
    def __init__(
        self,
        routes: RouteTable,
        recorder: Recorder,
        http: HttpClient,
        handlers: dict[str, Handler],
        *,
        max_body_bytes: int,
        record_body_max_bytes: int,
        forward_timeout_s: float = 30.0,
        official_contracts: dict[str, Contract] | None = None,
    ) -> None:
        self.routes = routes
        self.recorder = recorder
        self.http = http
        self.handlers = handlers
        self.max_body_bytes = max_body_bytes
        self.record_body_max_bytes = record_body_max_bytes
        self.forward_timeout_s = forward_timeout_s
        self.official_contracts = official_contracts if official_contracts is not None else {}
        self.authenticator: Authenticator | None = None  # set by simulator.security when a security model is on

    def contract_for(self, service: ServiceDef) -> Contract | None:
        if service.official_contract and service.name in self.official_contracts:
            return self.official_contracts[service.name]
        return get_contract(service.contract) if service.contract else None

    async def handle(self, request: SoapRequest) -> SoapResponse:
        trace = _Trace(request)
        try:
            response = await self._walk(request, trace)
        except SoapFaultError as e:
            response = self._fault(e, trace)
        except Exception as e:  # noqa: BLE001 - the caller gets a fault, the exchange is recorded
            response = self._fault(SoapFaultError(ErrorCode.INTERNAL, f"internal error: {e!r}", client=False), trace)
        response.exchange_id = trace.row["id"]
        if not trace.recorded:
            await self._record(trace, request, response)
        return response

    async def handle_oversized(self, request: SoapRequest, size: int) -> SoapResponse:
        """Refuse a body over the limit without parsing it; `request.body` holds only its head."""
        trace = _Trace(request)
        service = self.routes.service_for_path(request.path)
        trace.set(service=service.name if service else None)
        error = SoapFaultError(
            ErrorCode.BODY_TOO_LARGE, f"request body is {size} bytes; the limit is {self.max_body_bytes}"
        )
        response = self._fault(error, trace)
        response.exchange_id = trace.row["id"]
        await self._record(trace, request, response)
        return response

    # -- the walk ---------------------------------------------------------------------------------

    async def _walk(self, request: SoapRequest, trace: _Trace) -> SoapResponse:
        service = self.routes.service_for_path(request.path)
        if service is None:
            raise SoapFaultError(ErrorCode.UNKNOWN_SERVICE, f"no service is registered at {request.path}")
        trace.set(service=service.name)
        if request.origin == "http":
            check_soap11_media_type(request.headers.get("content-type"))
        envelope = parse_envelope(request.body, max_bytes=self.max_body_bytes)
        if envelope.payload is None:
            raise SoapFaultError(ErrorCode.UNKNOWN_OPERATION, "the SOAP Body carries no request element")

        contract = self.contract_for(service)
        operation = self._operation(service, contract, request.soap_action, envelope.payload)
        trace.set(operation=operation.name)

        ctx = read_context(envelope.payload)
        if contract is not None and not contract.invocation_context:  # e.g. SF1510: an InvocationContext is a violation
            system, agreement, municipality = await self._implicit_caller(request, envelope, ctx, service, trace)
        else:
            system, agreement, municipality = await self._invocation_caller(request, envelope, ctx, service, trace)

        validation = request.validation or service.validation
        if contract is not None and validation != "off":
            violations = contract.validate_request(envelope.payload)
            if violations:
                trace.set(violations=[f"request: {v}" for v in violations])
                if validation == "strict":
                    raise SoapFaultError(
                        ErrorCode.REQUEST_SCHEMA,
                        "the request violates the contract: " + "; ".join(violations[:5]),
                    )

        route = self.routes.route_for(service.name, municipality)
        if request.target_override:  # a scenario run's --target: this call only, after the same checks
            route = RouteDef(service.name, municipality, request.target_override, origin="override")
        if route is None:
            raise SoapFaultError(
                ErrorCode.NO_ROUTE,
                f"no route for {service.name} in municipality {municipality}",
                client=False,
            )
        trace.set(route_target=route.target)

        injected = await self._inject(route, trace)
        if injected is not None:
            return injected

        call = SoapCall(
            exchange_id=trace.row["id"],
            service=service,
            operation=operation,
            municipality=municipality,
            system=system,
            agreement=agreement,
            context=ctx,
            envelope=envelope,
        )
        if route.target.startswith("builtin:"):
            return await self._builtin(route, call, request, trace)
        return await self._forward(route, request, operation, contract, service, trace)

    async def _invocation_caller(
        self, request: SoapRequest, envelope: Envelope, ctx: RequestContext, service: ServiceDef, trace: _Trace
    ) -> tuple[SystemDef, AgreementDef, str]:
        """System, agreement and municipality from the call's InvocationContext (checked against credentials)."""
        inv = ctx.invocation
        if inv is not None:
            trace.set(
                context=inv.as_dict() | ({"MunicipalityCVR": ctx.municipality_cvr} if ctx.municipality_cvr else {}),
                callers_call_id=inv.callers_service_call_identifier,
                system_uuid=inv.user_system_uuid,
                agreement_uuid=inv.service_agreement_uuid,
            )
        if inv is None:
            raise SoapFaultError(
                ErrorCode.MISSING_INVOCATION_CONTEXT,
                "the request element has no InvocationContext "
                "({http://serviceplatformen.dk/xml/schemas/InvocationContext/1/}InvocationContext)",
            )
        if inv.service_uuid != service.uuid:
            raise SoapFaultError(
                ErrorCode.SERVICE_UUID_MISMATCH,
                f"ServiceUUID {inv.service_uuid} does not match {service.name} ({service.uuid})",
            )
        auth = None
        if self.authenticator is not None:
            auth = await self.authenticator.authenticate(request, envelope, ctx, service)
        system = self.routes.systems_by_uuid.get(inv.user_system_uuid)
        if system is None:
            raise SoapFaultError(
                ErrorCode.UNKNOWN_SYSTEM, f"UserSystemUUID {inv.user_system_uuid} is not a known it-system"
            )
        if auth is not None and auth.system is not None and auth.system != system.key:
            raise SoapFaultError(
                ErrorCode.AUTH_OTHER_SYSTEM,
                f"the {auth.model} identifies it-system '{auth.system}', but UserSystemUUID names "
                f"'{system.key}' ({system.uuid})",
            )
        agreement = self.routes.agreements.get(inv.service_agreement_uuid)
        if agreement is None:
            raise SoapFaultError(ErrorCode.UNKNOWN_AGREEMENT, f"no service agreement {inv.service_agreement_uuid}")
        if agreement.system != system.key:
            raise SoapFaultError(
                ErrorCode.AGREEMENT_OTHER_SYSTEM,
                f"service agreement {agreement.uuid} belongs to system '{agreement.system}', "
                f"not to the calling system '{system.key}' ({system.uuid})",
            )
        if agreement.service != service.name:
            raise SoapFaultError(
                ErrorCode.AGREEMENT_OTHER_SERVICE,
                f"service agreement {agreement.uuid} covers {agreement.service}, not {service.name}",
            )
        municipality = ctx.municipality_cvr or agreement.municipality
        if auth is not None and auth.municipality is not None:
            if auth.municipality != agreement.municipality or auth.municipality != municipality:
                raise SoapFaultError(
                    ErrorCode.TOKEN_OTHER_MUNICIPALITY,
                    f"the token is issued for municipality {auth.municipality}, but service agreement "
                    f"{agreement.uuid} is for {agreement.municipality}"
                    + (f" and AuthorityContext names {ctx.municipality_cvr}" if ctx.municipality_cvr else ""),
                )
            municipality = auth.municipality
        trace.set(municipality=municipality)
        if agreement.municipality != municipality:
            raise SoapFaultError(
                ErrorCode.AGREEMENT_OTHER_MUNICIPALITY,
                f"service agreement {agreement.uuid} is for municipality {agreement.municipality}, "
                f"but the call is on behalf of {municipality} (AuthorityContext)",
            )
        if not agreement.active:
            raise SoapFaultError(ErrorCode.AGREEMENT_INACTIVE, f"service agreement {agreement.uuid} is not active")
        return system, agreement, municipality

    async def _implicit_caller(
        self, request: SoapRequest, envelope: Envelope, ctx: RequestContext, service: ServiceDef, trace: _Trace
    ) -> tuple[SystemDef, AgreementDef, str]:
        """A contract without InvocationContext: the caller from its credentials, the agreement from
        (system ×) municipality × service (caller.py)."""
        auth = None
        if self.authenticator is not None:
            auth = await self.authenticator.authenticate(request, envelope, ctx, service)
        municipality = ctx.municipality_cvr
        if auth is not None and auth.municipality is not None:
            if municipality is not None and municipality != auth.municipality:
                raise SoapFaultError(
                    ErrorCode.TOKEN_OTHER_MUNICIPALITY,
                    f"the token is issued for municipality {auth.municipality}, "
                    f"but AuthorityContext names {municipality}",
                )
            municipality = auth.municipality
        trace.set(municipality=municipality)
        caller, found_by = None, "agreements"
        if auth is not None:
            caller, found_by = auth.system, auth.model
        elif request.origin != "http" and request.caller_system:  # the simulator's own call names its system
            caller, found_by = request.caller_system, request.origin
        agreement = implicit_agreement(self.routes, service, municipality, caller)
        system = self.routes.systems[agreement.system]
        trace.set(
            context={"MunicipalityCVR": municipality, "FoundBy": found_by},
            system_uuid=system.uuid,
            agreement_uuid=agreement.uuid,
        )
        return system, agreement, agreement.municipality

    def _operation(
        self, service: ServiceDef, contract: Contract | None, soap_action: str | None, payload: etree._Element
    ) -> Operation:
        if contract is None:
            name = (soap_action or "").strip().strip('"').rstrip("/").rsplit("/", 1)[-1] or etree.QName(
                payload
            ).localname
            return Operation(name=name, soap_action=soap_action or "", request_element=payload.tag)
        op = find_operation(contract, soap_action, payload.tag)
        if op is None:
            known = ", ".join(sorted(contract.operations))
            what = f"SOAPAction {soap_action}" if soap_action and soap_action.strip('" ') else f"element {payload.tag}"
            raise SoapFaultError(
                ErrorCode.UNKNOWN_OPERATION, f"{service.name} has no operation for {what} (known: {known})"
            )
        if op.request_element != payload.tag:
            raise SoapFaultError(
                ErrorCode.UNKNOWN_OPERATION,
                f"SOAPAction names {op.name}, which expects {op.request_element}, but the Body carries {payload.tag}",
            )
        return op

    async def _inject(self, route: RouteDef, trace: _Trace) -> SoapResponse | None:
        fault = route.fault
        if not fault:
            return None
        if fault.get("delay_ms"):
            await asyncio.sleep(fault["delay_ms"] / 1000)
        if fault.get("drop_connection"):
            trace.set(decision="injected", reason="fault injection: connection dropped")
            return SoapResponse(status=0, body=b"", exchange_id="", fault_code="INJECTED-DROP", drop_connection=True)
        if fault.get("soap_fault"):
            code = str(fault["soap_fault"])
            trace.set(decision="injected", reason=f"fault injection: SOAP fault {code}")
            body = build_fault(SoapFaultError(code, f"injected fault {code} on route {route.id}", client=False))
            return SoapResponse(status=500, body=body, exchange_id="", fault_code=code)
        if fault.get("http_status"):
            status = int(fault["http_status"])
            trace.set(decision="injected", reason=f"fault injection: HTTP {status}")
            return SoapResponse(
                status=status,
                body=f"injected HTTP {status} on route {route.id}".encode(),
                exchange_id="",
                content_type="text/plain; charset=utf-8",
                fault_code=f"HTTP-{status}",
            )
        return None

    async def _builtin(self, route: RouteDef, call: SoapCall, request: SoapRequest, trace: _Trace) -> SoapResponse:
        name = route.target.removeprefix("builtin:")
        handler = self.handlers.get(name)
        if handler is None:
            raise SoapFaultError(ErrorCode.NO_ROUTE, f"route target {route.target} is not available", client=False)
        trace.set(
            decision="handled",
            reason=f"built-in handler '{name}' for {call.service.name} in {call.municipality}",
        )
        payload = await handler(call)
        if isinstance(payload, CommittedAnswer):  # answered and recorded in the handler's transaction

            def finish(body: bytes) -> dict[str, Any]:
                return self._finished_row(trace, request, SoapResponse(status=200, body=body, exchange_id=""))

            body = await payload.commit(finish)
            trace.recorded = True
            return SoapResponse(status=200, body=body, exchange_id="")
        body = payload if isinstance(payload, bytes) else build_envelope(payload)
        return SoapResponse(status=200, body=body, exchange_id="")

    async def _forward(
        self,
        route: RouteDef,
        request: SoapRequest,
        op: Operation,
        contract: Contract | None,
        service: ServiceDef,
        trace: _Trace,
    ) -> SoapResponse:
        headers = {
            "Content-Type": SOAP_CONTENT_TYPE,
            "SOAPAction": f'"{op.soap_action or request.soap_action or ""}"',
        }
        t = time.perf_counter()
        try:
            reply = await self.http.post(
                route.target, content=request.body, headers=headers, timeout=self.forward_timeout_s
            )
        except HttpError as e:
            trace.set(provider_ms=(time.perf_counter() - t) * 1000)
            raise SoapFaultError(
                ErrorCode.PROVIDER_UNREACHABLE,
                f"the provider at {route.target} did not answer: {e}",
                client=False,
            ) from None
        trace.set(
            provider_ms=(time.perf_counter() - t) * 1000,
            decision="routed",
            reason=f"forwarded to {route.target} "
            + ("(per-call target override)" if route.origin == "override" else f"(route {route.id})"),
        )
        body = reply.content
        try:
            reply_env = parse_envelope(body, max_bytes=self.max_body_bytes)
        except SoapFaultError as e:
            raise SoapFaultError(
                ErrorCode.PROVIDER_BAD_RESPONSE,
                f"the provider at {route.target} answered HTTP {reply.status_code} "
                f"with no valid SOAP 1.1 envelope ({e.text})",
                client=False,
            ) from None
        payload = reply_env.payload
        fault_code = None
        if payload is not None and payload.tag == f"{{{SOAP11}}}Fault":
            fault_code = fault_code_of(body) or "PROVIDER-FAULT"
            trace.set(decision="provider-fault")
        elif (
            contract is not None
            and payload is not None
            and (validation := request.validation or service.validation) != "off"
        ):
            violations = contract.validate_response(payload)
            if violations:
                trace.set(violations=(trace.row["violations"] or []) + [f"response: {v}" for v in violations])
                if validation == "strict":
                    raise SoapFaultError(
                        ErrorCode.RESPONSE_SCHEMA,
                        "the provider's response violates the contract: " + "; ".join(violations[:5]),
                        client=False,
                    )
        return SoapResponse(
            status=reply.status_code,
            body=body,
            exchange_id="",
            content_type=reply.content_type or SOAP_CONTENT_TYPE,
            fault_code=fault_code,
        )

    # -- faults and recording ---------------------------------------------------------------------

    def _fault(self, error: SoapFaultError, trace: _Trace) -> SoapResponse:
        trace.set(decision="refused", reason=error.text)
        return SoapResponse(
            status=error.http_status, body=build_fault(error), exchange_id="", fault_code=str(error.code)
        )

    async def _record(self, trace: _Trace, request: SoapRequest, response: SoapResponse) -> None:
        await self.recorder.record(self._finished_row(trace, request, response))

    def _finished_row(self, trace: _Trace, request: SoapRequest, response: SoapResponse) -> dict[str, Any]:
        """The exchange row, complete with the answer (synchronous: also run in the writer's transaction)."""
        req_body, req_cut = truncate_body(request.body, self.record_body_max_bytes)
        resp_body, resp_cut = truncate_body(response.body, self.record_body_max_bytes)
        trace.set(
            duration_ms=(time.perf_counter() - trace.t0) * 1000,
            status="ok" if response.ok else "fault",
            fault_code=response.fault_code,
            http_status=response.status,
            request_body=req_body,
            request_truncated=req_cut,
            response_body=resp_body,
            response_truncated=resp_cut,
        )
        return trace.row


def contract_at(routes: RouteTable, pipeline: Pipeline, path: str) -> tuple[ServiceDef, Contract]:
    """The service at `path` and the contract in force for it; LookupError when there is none."""
    service = routes.service_for_path(path)
    if service is None:
        raise LookupError(f"no service is registered at {path}")
    contract = pipeline.contract_for(service)
    if contract is None:
        raise LookupError(f"{service.name} has no contract to describe")
    return service, contract


def wsdl_for(routes: RouteTable, pipeline: Pipeline, path: str, base_url: str, xsd: str | None = None) -> bytes:
    """The WSDL of the service at `path` (or, with `xsd`, that schema file of its package), with its locations
    on this simulator."""
    service, contract = contract_at(routes, pipeline, path)
    if xsd is not None:
        return contract.xsd(xsd, base_url + service.path)
    return contract.wsdl(base_url + service.path)


__all__ = ["Pipeline", "contract_at", "parse_xml", "wsdl_for"]
