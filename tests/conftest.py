"""Shared fixtures: a simulator in-process (httpx ASGI) or live on a port (for zeep, pika, browsers),
on SQLite or on the real local PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from simulator.app import SimulatorApp, create_app
from simulator.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEMO_ROUTES = ROOT / "routes"
DEMO_MESSAGES = ROOT / "messages"
POSTGRES_URL = os.environ.get("SIMULATOR_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
RABBITMQ_URL = os.environ.get("SIMULATOR_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE_SERVICES = os.environ.get("SIMULATOR_TEST_REQUIRE_SERVICES") == "1"

# The public KOMBIT artefacts (official schemas, WSDLs, sample messages) are read, never copied into the repo.
CONTRACTS_SETTING = "SIMULATOR_KOMBIT_CONTRACTS_DIR"
REQUIRE_CONTRACTS = os.environ.get("SIMULATOR_TEST_REQUIRE_CONTRACTS") == "1"


def kombit_contracts_dir() -> Path:
    """Where the public KOMBIT artefacts are: $SIMULATOR_KOMBIT_CONTRACTS_DIR, else ../shared/contracts."""
    return Path(os.environ.get(CONTRACTS_SETTING) or ROOT.parent / "shared" / "contracts").resolve()


def missing_contracts_reason(relative: str = "") -> str:
    """The one-line skip reason: what is missing and the setting that points at it."""
    where = kombit_contracts_dir() / relative
    return f"public KOMBIT artefact {where} not found: set {CONTRACTS_SETTING} to the contracts folder"


def kombit_artefact(relative: str) -> Path:
    """One public KOMBIT artefact by its path inside the contracts folder. When it is absent the test skips
    with one line naming SIMULATOR_KOMBIT_CONTRACTS_DIR; in CI (SIMULATOR_TEST_REQUIRE_CONTRACTS=1) it fails."""
    path = kombit_contracts_dir() / relative
    if not path.exists():
        if REQUIRE_CONTRACTS:
            pytest.fail(missing_contracts_reason(relative))
        pytest.skip(missing_contracts_reason(relative))
    return path


@pytest.fixture(scope="session")
def kombit():
    """`kombit("relative/path.xsd")` → the Path of a public KOMBIT artefact (skips when absent)."""
    return kombit_artefact


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_available(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, port: int) -> None:
    """Skip when a local server is down, except in CI, where it must be up (and a skip is a failure)."""
    if not service_available("127.0.0.1", port):
        if REQUIRE_SERVICES:
            pytest.fail(f"{name} on 127.0.0.1:{port} is required but not running")
        pytest.skip(f"{name} on 127.0.0.1:{port} is not running")


@pytest.fixture
def routes_dir(tmp_path: Path) -> Path:
    """A private, editable copy of the demo route table."""
    target = tmp_path / "routes"
    shutil.copytree(DEMO_ROUTES, target)
    return target


@pytest.fixture
def messages_dir(tmp_path: Path) -> Path:
    target = tmp_path / "messages"
    shutil.copytree(DEMO_MESSAGES, target)
    return target


DEMO_DEBTOR_URL = "${SIMULATOR_DEBTOR_URL:-http://127.0.0.1:8001}"


def point_routes_at(routes_dir: Path, debtor_url: str) -> None:
    """Point the demo routes (`${SIMULATOR_DEBTOR_URL:-http://127.0.0.1:8001}/…`) at a debtor system on
    another address, whatever SIMULATOR_DEBTOR_URL says in the test's environment."""
    path = routes_dir / "routes.yaml"
    text = path.read_text(encoding="utf-8")
    assert DEMO_DEBTOR_URL in text, "the demo routes no longer name the debtor system's URL this way"
    path.write_text(text.replace(DEMO_DEBTOR_URL, debtor_url), encoding="utf-8")


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    import asyncpg

    need_service("PostgreSQL", 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def make_settings(tmp_path: Path, default_routes: Path, default_messages: Path, /, **overrides) -> Settings:
    """Test settings: a private SQLite file, the given route/message dirs, immediate recording."""
    values = dict(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
        routes_dir=overrides.pop("routes_dir", default_routes),
        messages_dir=overrides.pop("messages_dir", default_messages),
        broker_url=None,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Sim:
    app: SimulatorApp
    client: httpx.AsyncClient
    settings: Settings

    @property
    def rt(self):
        return self.app.runtime


@asynccontextmanager
async def running(settings: Settings, *, db_schema: str | None = None) -> AsyncIterator[Sim]:
    app = create_app(settings, db_schema=db_schema)
    await app.runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.base_url) as client:
            yield Sim(app=app, client=client, settings=settings)
    finally:
        await app.runtime.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    """Parametrise a test over both database engines."""
    return request.param


@pytest.fixture
async def sim_factory(tmp_path, routes_dir, messages_dir):
    """`async with sim_factory(backend="sqlite", **settings) as sim:` — a started simulator."""

    @asynccontextmanager
    async def factory(backend: str = "sqlite", **overrides) -> AsyncIterator[Sim]:
        settings = make_settings(tmp_path, routes_dir, messages_dir, **overrides)
        if backend == "postgres":
            async with postgres_schema() as schema:
                settings.database_url = POSTGRES_URL
                async with running(settings, db_schema=schema) as sim:
                    yield sim
        else:
            async with running(settings) as sim:
                yield sim

    return factory


@pytest.fixture
async def sim(sim_factory) -> AsyncIterator[Sim]:
    async with sim_factory() as s:
        yield s


class LiveServer:
    """A uvicorn server on a free port in a background thread (for synchronous clients like zeep)."""

    def __init__(self, app, port: int | None = None, **uvicorn_options) -> None:
        """`uvicorn_options` go to uvicorn.Config (e.g. ssl_certfile, ssl_keyfile, ssl_ca_certs, http)."""
        self.port = port or free_port()
        scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", **uvicorn_options)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        started = threading.Event()

        def wait() -> None:
            while not self.server.started and self.thread.is_alive():
                threading.Event().wait(0.01)
            started.set()

        wait()
        if not self.server.started:
            raise RuntimeError("live server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def live_factory(tmp_path, routes_dir, messages_dir):
    """`with live_factory(**settings) as live:` — the whole simulator served on a real port."""

    def factory(**overrides) -> LiveServer:
        port = free_port()
        settings = make_settings(tmp_path, routes_dir, messages_dir, port=port, **overrides)
        return LiveServer(create_app(settings), port=port)

    return factory


@pytest.fixture
def live(live_factory) -> Iterator[LiveServer]:
    with live_factory() as server:
        yield server


def until(what: str, probe: Callable[[], Any], within_s: float = 30) -> Any:
    """Poll `probe` (e.g. an HTTP read of the event's result) until it answers something truthy; fail with
    `what` at the deadline. The pause between two polls is not a wait for the event."""
    import time

    deadline = time.monotonic() + within_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within_s} s: {what}")
        threading.Event().wait(0.05)
