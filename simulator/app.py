"""The ASGI application: `/service/...` (the mock-facing SOAP surface, a lean ASGI path), and the
FastAPI admin/UI surface (`/api`, `/healthz`, `/docs`, component endpoints)."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Response

from simulator import __version__
from simulator.config import Settings, get_settings
from simulator.runtime import Runtime, load_components
from simulator.serviceplatform import SoapRequest, contract_at, wsdl_for
from simulator.soap.export import exportable, zip_package
from simulator.web.api import router as api_router
from simulator.web.deps import RuntimeDep, client_cert_of
from simulator.web.guard import Guard
from simulator.web.health import Health
from simulator.web.ui import router as ui_router

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/service/"
NOT_SOAP_PREFIXES = ("/service/AccessTokenService_1/",)  # REST endpoints under /service/ (simulator.security)


def create_app(
    settings: Settings | None = None, *, db_schema: str | None = None, freeze_heap: bool = False
) -> SimulatorApp:
    """The application. `freeze_heap` (the server process, `main_app`): once started, what start built is
    moved out of the garbage collector's sight (`gc.freeze`), so that a full collection under load walks only
    what was made since — tens of ms less per collection, each of which stalled every call in flight."""
    settings = settings or get_settings()
    components = load_components(settings.components)
    runtime = Runtime.build(settings, components, db_schema=db_schema)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await runtime.start()
        if freeze_heap:
            gc.collect()
            gc.freeze()
            gc.enable()  # off while starting (main_app): start makes objects that live as long as the process
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(
        title="KY debtor simulator",
        version=__version__,
        description="Admin API of the KY debtor simulator. The SOAP services live under /service/.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from local assets (simulator/web/ui/apidocs.py), not a CDN
        redoc_url=None,
    )
    api.state.runtime = runtime
    api.include_router(api_router, prefix="/api")
    api.include_router(ui_router)  # the web UI at / (simulator/web/ui.py)
    for c in components:
        if c.admin_router is not None:
            api.include_router(c.admin_router, prefix="/api")
        if c.public_router is not None:
            api.include_router(c.public_router)

    @api.get(
        "/healthz",
        tags=["health"],
        response_model=Health,
        response_model_exclude_unset=True,
        responses={503: {"model": Health, "description": "a section is not ok"}},
    )
    async def healthz(rt: RuntimeDep, response: Response) -> dict[str, Any]:
        """Database, database writer and broker state; `ok` is false (and the status 503) when one is down, or
        when the writer (exchanges, KY bookings) fails or is behind (an item waiting writer_stuck_after_s)."""
        database = await rt.db.ping()
        out: dict[str, Any] = {
            "version": __version__,
            "database": {"ok": database, "dialect": rt.db.dialect},
            "recorder": {"pending": rt.recorder.pending, "last_error": rt.recorder.last_error},
            "writer": rt.writer.health(),
        }
        for c in rt.components:
            out[c.name] = await c.health(rt)
        out["broker"] = out.get("beskedfordeler", {}).get("broker", {"ok": True, "kind": "none"})
        out["ok"] = database and all(v.get("ok", True) for v in out.values() if isinstance(v, dict))
        if not out["ok"]:
            response.status_code = 503
        return out

    @api.get("/metrics", include_in_schema=False)
    async def metrics(rt: RuntimeDep) -> Response:
        """Prometheus metrics (simulator/metrics.py; README "Metrics")."""
        return Response(rt.metrics.scrape(rt.writer.health()), media_type=rt.metrics.content_type)

    return SimulatorApp(api, runtime)


class SimulatorApp:
    """Routes `/service/...` straight to the SOAP pipeline and everything else to FastAPI."""

    def __init__(self, api: FastAPI, runtime: Runtime) -> None:
        self.api = api
        self.runtime = runtime
        self.guarded = Guard(self._route, runtime.settings)  # cross-site and DNS-rebinding guard (web/guard.py)

    async def __call__(self, scope, receive, send) -> None:
        await self.guarded(scope, receive, send)

    async def _route(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(SERVICE_PREFIX) and not path.startswith(NOT_SOAP_PREFIXES):
            await self._soap(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _soap(self, scope, receive, send) -> None:
        method = scope["method"]
        path = scope["path"]
        query = scope.get("query_string", b"")
        if method == "GET" and query.lower() in (b"package", b"package="):
            return await self._package(send, path)
        if method == "GET" and (query.lower() in (b"wsdl", b"wsdl=") or query.startswith(b"xsd=")):
            xsd = unquote(query[4:].decode("latin-1")) if query.startswith(b"xsd=") else None
            try:
                body = wsdl_for(self.runtime.routes, self.runtime.pipeline, path, self.runtime.settings.base_url, xsd)
            except LookupError as e:
                return await _plain(send, 404, str(e).encode())
            return await _plain(send, 200, body, b"text/xml; charset=utf-8")
        if method != "POST":
            return await _plain(
                send,
                405,
                b"POST a SOAP 1.1 envelope, or GET ?wsdl (?xsd=<file>, ?package)",
                extra=[(b"allow", b"GET, POST")],
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.runtime.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        over = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if not over:
                if size > limit:
                    over = True
                    chunks = [b"".join(chunks)[: 64 * 1024]]  # keep a head for the record only
                else:
                    chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request = SoapRequest(
            path=path,
            body=body,
            soap_action=headers.get("soapaction"),
            origin="http",
            session=headers.get("x-simulator-session"),
            correlation_id=headers.get("x-correlation-id"),
            headers=headers,
            client_cert=client_cert_of(scope),
        )
        if over:
            response = await self.runtime.pipeline.handle_oversized(request, size)
        else:
            response = await self.runtime.pipeline.handle(request)
        if response.drop_connection:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/xml"), (b"content-length", b"1000")],
                }
            )
            await send({"type": "http.response.body", "body": b"<", "more_body": False})
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", response.content_type.encode("latin-1")),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"x-simulator-exchange-id", response.exchange_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _package(self, send, path: str) -> None:
        """The service's integration package (WSDL + XSDs + README, soap/export.py) as a zip."""
        rt = self.runtime
        try:
            service, contract = contract_at(rt.routes, rt.pipeline, path)
        except LookupError as e:
            return await _plain(send, 404, str(e).encode())
        if not exportable(contract):
            return await _plain(send, 404, f"{service.name}'s contract has no WSDL/XSD package".encode())
        body = zip_package(service, contract, rt.settings.base_url)
        disposition = f'attachment; filename="{service.name}.zip"'.encode()
        await _plain(send, 200, body, b"application/zip", extra=[(b"content-disposition", disposition)])


async def _plain(send, status: int, body: bytes, content_type: bytes = b"text/plain; charset=utf-8", extra=()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main_app() -> SimulatorApp:
    """Factory for `uvicorn --factory simulator.app:main_app` (`simulator run`): the collector is off until the
    app has started and frozen what start made (create_app's `freeze_heap`)."""
    gc.disable()
    logging.basicConfig(level=get_settings().log_level.upper())
    return create_app(freeze_heap=True)
