"""The async engine and session factory, and migrations to the newest schema at start."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    """Every table of every sub-package derives from this one metadata."""


def where_equal(stmt, model, **filters):
    """`stmt` narrowed by `column == value` for every filter given (None and "" mean: no filter)."""
    for name, value in filters.items():
        if value is not None and value != "":
            stmt = stmt.where(getattr(model, name) == value)
    return stmt


def _alembic_config(sync_connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = sync_connection
    return cfg


class _AiosqliteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite whose hard close (`do_terminate`, the dialect hook the pool calls for a connection it
    invalidated, e.g. after a task was cancelled inside a query) stops the connection's thread without
    waiting for it. The stock hook awaits a graceful close that, cancelled once more meanwhile, waits forever
    for a thread already stopped (aiosqlite 0.22), so the event loop could never finish and the process not
    exit on shutdown. `stop()` closes the connection in its thread after what is queued, and cannot hang."""

    supports_statement_cache = True

    def do_terminate(self, dbapi_connection) -> None:
        self.get_driver_connection(dbapi_connection).stop()


registry.register("sqlite.simulator_aiosqlite", __name__, "_AiosqliteDialect")


class _WorkerThread:
    """One daemon thread that runs units of work in order and hands each result back to the event loop.
    A daemon, so that a unit stuck in the database (a lock held elsewhere) never keeps the process from
    exiting once the loop has given up on it (the default executor's threads are joined at exit)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put((loop, future, work))
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, work = job
            try:
                outcome, failed = work(), False
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
                outcome, failed = e, True
            try:
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _settle(future: asyncio.Future, outcome, failed: bool) -> None:
    if not future.done():
        if failed:
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def unavailable(error: BaseException) -> bool:
    """True when `error` says the database could not be reached or was busy (worth retrying as it is), False
    when it refused what was sent (a value it cannot store, a constraint: the data's fault)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, (OSError, TimeoutError, ConnectionError))


class Database:
    """Owns the engine; `session()` opens a unit of work."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        kwargs: dict = {}
        if self.dialect == "sqlite":
            self._ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        engine_url = url.replace("sqlite+aiosqlite:", "sqlite+simulator_aiosqlite:", 1)
        self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        self._sync_engine: Engine | None = None
        self._worker = _WorkerThread("db-transactions")
        m = re.match(r"sqlite\+aiosqlite:///(.+)", url)
        if m and m.group(1) != ":memory:":
            # the same file through the stdlib driver, for transaction(): one worker-thread hop per unit
            self._sync_engine = create_engine(f"sqlite:///{m.group(1)}", connect_args={"timeout": 30})
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction and return its result. On a SQLite file the whole
        unit runs in the database's worker thread on a synchronous connection (one hop, instead of one per
        statement through aiosqlite; units run one after the other, as SQLite writes do anyway); on
        PostgreSQL it runs through the async engine (`run_sync`)."""
        if self._sync_engine is not None:
            return await self._worker.run(functools.partial(self._sync_transaction, work))
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    def _sync_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._sync_engine.begin() as conn:
            return work(conn)

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        """The database's folder, and its file created 0600 (it holds SAML assertions and CPR numbers; SQLite
        gives its -wal/-shm files the same mode)."""
        m = re.match(r"sqlite\+aiosqlite:///([^?]+)", url)
        if m and m.group(1) != ":memory:" and not m.group(1).startswith("file:"):
            path = Path(m.group(1))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            try:
                os.chmod(path, 0o600)
            except OSError as e:  # a file of another user: it keeps its mode
                log.warning("could not make %s private (0600): %s", path, e)

    async def migrate(self) -> None:
        """Bring the schema to every head (each sub-package keeps its own migration branch)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(_alembic_config(c), "heads"))

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False

    async def close(self) -> None:
        await self.engine.dispose()
        self._worker.close()
        if self._sync_engine is not None:
            self._sync_engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
