"""The running simulator's parts, built once at start and handed to every component and route."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter
from lxml import etree

from simulator.config import Settings
from simulator.metrics import Metrics
from simulator.outbound import HttpClient
from simulator.serviceplatform import Handler, Pipeline, RouteTable, SoapRequest, SoapResponse
from simulator.soap.context import InvocationContext, build_context_elements
from simulator.soap.contract import contract_names
from simulator.soap.envelope import build_envelope
from simulator.soap.ns import wsdl_namespace
from simulator.soap.official import load_official_contract
from simulator.store import Database
from simulator.store.group import GroupCommit
from simulator.traffic import ExchangeStore, Recorder

log = logging.getLogger(__name__)
T = TypeVar("T")

CALL_SCOPE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("call_scope", default=None)
"""Defaults for `Runtime.call` in the current task and the tasks it starts: ``session`` (tag the
exchanges), ``target`` (a per-call provider URL override) and ``validation`` (strict|lenient|off instead of
the service's mode). Set by simulator.scenarios around a run, so the calls KY's ledger makes for the run are
tagged, go to the run's --target and, in a readiness run, are validated strictly."""


class Component(Protocol):
    """A capability that plugs into the simulator (KY, Beskedfordeler, Klassifikation, …).

    `provides`, `needs` and `wants` name capability types (simulator.capabilities, or the component's own
    classes): the runtime starts every provider before the components that need or want what it provides,
    and refuses to start when a needed capability has no provider."""

    name: str
    admin_router: APIRouter | None  # mounted under /api
    public_router: APIRouter | None  # mounted at the root (protocol endpoints)
    provides: tuple[type, ...]
    needs: tuple[type, ...]
    wants: tuple[type, ...]

    async def start(self, rt: Runtime) -> None: ...

    async def stop(self, rt: Runtime) -> None: ...

    async def health(self, rt: Runtime) -> dict[str, Any]: ...


class PlatformCallError(LookupError):
    """A call the simulator cannot make as the named system: unknown system or service, or no active agreement
    (the message names system × municipality × service and where to add the agreement)."""


class ComponentError(RuntimeError):
    """The components cannot be wired: a needed capability has no provider, or they need each other."""


BUILTIN_COMPONENTS = ("ky", "beskedfordeler", "klassifikation", "security", "scenarios")


def load_components(names: list[str]) -> list[Component]:
    """The named component sub-packages, in start order (providers first; see `start_order`). Every
    built-in one is imported, loaded or not, because importing registers its contracts (the route files may
    name them whichever components run)."""
    for name in BUILTIN_COMPONENTS:
        importlib.import_module(f"simulator.{name}")
    return start_order([importlib.import_module(f"simulator.{name}").component for name in dict.fromkeys(names)])


def start_order(components: list[Component]) -> list[Component]:
    """The components ordered so that each starts after the providers of what it needs or wants (ties keep
    the built-in order, so any order of SIMULATOR_COMPONENTS gives the same wiring). Raises ComponentError
    naming a needed capability without provider, or a cycle."""
    rank = {name: i for i, name in enumerate(BUILTIN_COMPONENTS)}
    components = sorted(components, key=lambda c: (rank.get(c.name, len(rank)), c.name))
    providers: dict[type, list[Component]] = {}
    for c in components:
        for cap in c.provides:
            providers.setdefault(cap, []).append(c)
    missing = [
        f"{c.name} needs {cap.__name__}, which no loaded component provides"
        for c in components
        for cap in c.needs
        if cap not in providers
    ]
    if missing:
        raise ComponentError("; ".join(missing) + " (check SIMULATOR_COMPONENTS)")
    ordered: list[Component] = []
    placing: set[str] = set()

    def place(c: Component) -> None:
        if c in ordered:
            return
        if c.name in placing:
            raise ComponentError(f"components depend on each other in a cycle through {c.name}")
        placing.add(c.name)
        for cap in (*c.needs, *c.wants):
            for provider in providers.get(cap, []):
                if provider is not c:
                    place(provider)
        placing.discard(c.name)
        ordered.append(c)

    for c in components:
        place(c)
    return ordered


@dataclass
class Runtime:
    settings: Settings
    db: Database
    routes: RouteTable
    recorder: Recorder
    writer: GroupCommit
    http: HttpClient  # the one outbound HTTP client (forwarding, pushes)
    pipeline: Pipeline
    exchanges: ExchangeStore  # every read of recorded exchanges
    metrics: Metrics  # GET /metrics; the Beskedfordeler reports through its hooks
    handlers: dict[str, Handler] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    _capabilities: dict[type, Any] = field(default_factory=dict)
    _config_refresh: asyncio.Task | None = None

    def provide(self, capability: type[T], instance: T) -> None:
        """Register what a component offers the others (and its own routes) under a capability type."""
        self._capabilities[capability] = instance

    def withdraw(self, capability: type) -> None:
        self._capabilities.pop(capability, None)

    def find(self, capability: type[T]) -> T | None:
        """The provider of a capability, or None when no started component provides it."""
        return self._capabilities.get(capability)

    def get(self, capability: type[T]) -> T:
        """The provider of a capability; LookupError naming it when no started component provides it."""
        found = self._capabilities.get(capability)
        if found is None:
            raise LookupError(f"no running component provides {capability.__name__}")
        return found

    @classmethod
    def build(cls, settings: Settings, components: list[Component], *, db_schema: str | None = None) -> Runtime:
        db = Database(settings.database_url, schema=db_schema)
        routes = RouteTable.from_directory(settings.routes_dir, known_contracts=set(contract_names()))
        writer = GroupCommit(db, max_batch=settings.record_batch_size, stuck_after_s=settings.writer_stuck_after_s)
        recorder = Recorder(
            db,
            batch_size=settings.record_batch_size,
            retention=settings.retention_max_exchanges,
            retention_s=settings.retention_days * 86400 if settings.retention_days else None,
            durable=settings.record_durable,
            group=writer,
        )
        http = HttpClient()
        handlers: dict[str, Handler] = {}
        pipeline = Pipeline(
            routes,
            recorder,
            http,
            handlers,
            max_body_bytes=settings.max_body_bytes,
            record_body_max_bytes=settings.record_body_max_bytes,
            forward_timeout_s=settings.forward_timeout_s,
        )
        for service in routes.services.values():
            if service.official_contract:  # the vendor's WSDL/XSD instead of our reference contract
                pipeline.official_contracts[service.name] = load_official_contract(
                    Path(service.official_contract), service
                )
        metrics = Metrics()
        recorder.listeners.append(metrics.observe_exchange)
        return cls(
            settings=settings,
            db=db,
            routes=routes,
            recorder=recorder,
            writer=writer,
            http=http,
            pipeline=pipeline,
            exchanges=ExchangeStore(db, recorder),
            metrics=metrics,
            handlers=handlers,
            components=components,
        )

    async def start(self) -> None:
        await self.db.migrate()
        await self.routes.sync(self.db)
        await self.writer.start()
        await self.recorder.prune_expired()  # SIMULATOR_RETENTION_DAYS
        self._config_refresh = asyncio.create_task(self._refresh_config(), name="config-refresh")
        for c in self.components:
            await c.start(self)

    async def _refresh_config(self) -> None:
        """Processes sharing one database pick up each other's route and agreement edits."""
        while True:
            await asyncio.sleep(self.settings.config_refresh_s)
            try:
                await self.routes.refresh_if_changed(self.db)
            except Exception as e:  # noqa: BLE001 - a database hiccup must not end the loop
                log.warning("route table refresh failed: %s", e)

    async def stop(self) -> None:
        if self._config_refresh is not None:
            self._config_refresh.cancel()
            self._config_refresh = None
        for c in reversed(self.components):
            try:
                await c.stop(self)
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("stopping %s failed", c.name)
        await self.writer.stop(self.settings.writer_stop_timeout_s)
        await self.http.close()
        await self.db.close()

    async def call(
        self,
        service: str,
        body: bytes,
        *,
        soap_action: str | None = None,
        origin: str,
        session: str | None = None,
        caller_system: str | None = None,
    ) -> SoapResponse:
        """Send a call into the platform as one of the simulator's own systems (e.g. KY), exactly
        as an outside caller would: same checks, route, recording. `caller_system` names the calling system
        where the contract carries no InvocationContext (as a certificate would)."""
        path = self.routes.services[service].path
        scope = CALL_SCOPE.get() or {}
        target = scope.get("target")
        if target and "{" in target:  # a template: {path}, {service}
            target = target.format(path=path, service=service)
        elif target:
            target = target.rstrip("/") + path
        return await self.pipeline.handle(
            SoapRequest(
                path=path,
                body=body,
                soap_action=soap_action,
                origin=origin,
                session=session or scope.get("session"),
                target_override=target,
                validation=scope.get("validation"),
                caller_system=caller_system,
            )
        )

    async def call_as(
        self,
        system: str,
        municipality: str,
        service: str,
        request: etree._Element,
        *,
        origin: str,
        user_uuid: str,
        call_id: str | None = None,
        operation: str | None = None,
    ) -> SoapResponse:
        """Call the platform as one of the route table's systems (key or UUID) on behalf of a municipality.

        The request element (its payload only) gets AuthorityContext and an InvocationContext for the system's
        active agreement for system × municipality × service put first, and goes through `call` with SOAPAction
        = the service's WSDL namespace + `operation` (default: the element's name minus ``Request``). Raises
        PlatformCallError."""
        routes = self.routes
        sys_def = routes.systems.get(system) or routes.systems_by_uuid.get(system)
        if sys_def is None:
            raise PlatformCallError(f"unknown system {system!r} (routes/systems.yaml)")
        svc = routes.services.get(service)
        if svc is None:
            raise PlatformCallError(f"service {service} is not in routes/services.yaml")
        agreements = routes.agreements_for(sys_def.key, municipality, svc.name)
        if not agreements:
            raise PlatformCallError(
                f"{sys_def.key} has no active service agreement for {svc.name} in municipality {municipality} "
                "(routes/agreements.yaml or PUT /api/agreements)"
            )
        contract = self.pipeline.contract_for(svc)
        invocation = None  # a contract without one (public SF1510): the platform finds the agreement
        if contract is None or contract.invocation_context:
            invocation = InvocationContext(
                service_agreement_uuid=agreements[0].uuid,
                user_system_uuid=sys_def.uuid,
                user_uuid=user_uuid,
                service_uuid=svc.uuid,
                callers_service_call_identifier=call_id or str(uuid.uuid4()),
            )
        for i, el in enumerate(build_context_elements(invocation, municipality)):
            request.insert(i, el)
        operation = operation or etree.QName(request).localname.removesuffix("Request")
        action = wsdl_namespace(svc.area, svc.name, svc.version) + operation
        return await self.call(
            svc.name, build_envelope(request), soap_action=action, origin=origin, caller_system=sys_def.key
        )
