"""The running simulator's parts, built once at start and handed to every component and route."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi import APIRouter

from simulator.config import Settings
from simulator.serviceplatform import Handler, Pipeline, RouteTable, SoapRequest, SoapResponse
from simulator.serviceplatform.forwarder import Forwarder
from simulator.soap.contract import contract_names
from simulator.soap.official import load_official_contract
from simulator.store import Database
from simulator.traffic import Recorder

log = logging.getLogger(__name__)

CALL_SCOPE: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("call_scope", default=None)
"""Defaults for `Runtime.call` in the current task and the tasks it starts: ``session`` (tag the
exchanges) and ``target`` (a per-call provider URL override). Set by simulator.scenarios around a run,
so the calls KY's ledger makes for the run are tagged and go to the run's --target."""


class Component(Protocol):
    """A capability that plugs into the simulator (KY, Beskedfordeler, Klassifikation, …)."""

    name: str
    admin_router: APIRouter | None  # mounted under /api
    public_router: APIRouter | None  # mounted at the root (protocol endpoints)

    async def start(self, rt: Runtime) -> None: ...

    async def stop(self, rt: Runtime) -> None: ...

    async def health(self, rt: Runtime) -> dict[str, Any]: ...


BUILTIN_COMPONENTS = ("ky", "beskedfordeler", "klassifikation", "security", "scenarios")


def load_components(names: list[str]) -> list[Component]:
    """The named component sub-packages. Every built-in one is imported, loaded or not, because
    importing registers its contracts (the route files may name them whichever components run)."""
    for name in BUILTIN_COMPONENTS:
        importlib.import_module(f"simulator.{name}")
    return [importlib.import_module(f"simulator.{name}").component for name in names]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    routes: RouteTable
    recorder: Recorder
    http: httpx.AsyncClient
    pipeline: Pipeline
    handlers: dict[str, Handler] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # per-component state, keyed by component name

    @classmethod
    def build(cls, settings: Settings, components: list[Component], *, db_schema: str | None = None) -> Runtime:
        db = Database(settings.database_url, schema=db_schema)
        routes = RouteTable.from_directory(settings.routes_dir, known_contracts=set(contract_names()))
        recorder = Recorder(
            db,
            batch_size=settings.record_batch_size,
            interval_s=settings.record_flush_interval_s,
            retention=settings.retention_max_exchanges,
            durable=settings.record_durable,
        )
        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        handlers: dict[str, Handler] = {}
        pipeline = Pipeline(
            routes,
            recorder,
            Forwarder(),
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
        return cls(
            settings=settings,
            db=db,
            routes=routes,
            recorder=recorder,
            http=http,
            pipeline=pipeline,
            handlers=handlers,
            components=components,
        )

    async def start(self) -> None:
        await self.db.migrate()
        await self.routes.sync(self.db)
        await self.recorder.start()
        self.state["_config_refresh"] = asyncio.create_task(self._refresh_config(), name="config-refresh")
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
        refresher = self.state.pop("_config_refresh", None)
        if refresher is not None:
            refresher.cancel()
        for c in reversed(self.components):
            try:
                await c.stop(self)
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("stopping %s failed", c.name)
        await self.recorder.stop()
        await self.http.aclose()
        await self.pipeline.forwarder.close()
        await self.db.close()

    async def call(
        self,
        service: str,
        body: bytes,
        *,
        soap_action: str | None = None,
        origin: str,
        session: str | None = None,
    ) -> SoapResponse:
        """Send a call into the platform as one of the simulator's own systems (e.g. KY), exactly
        as an outside caller would: same checks, route, recording."""
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
            )
        )
