"""The async engine and session factory, and migrations to the newest schema at start."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

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


def _close_aiosqlite_without_waiting() -> None:
    """Make SQLAlchemy's "graceful close" of an invalidated aiosqlite connection not wait.

    When a task is cancelled inside a query, SQLAlchemy invalidates the connection and closes it in a
    shielded task (`_terminate_graceful_close` → aiosqlite `close()`). Cancelled again meanwhile, it stops
    the connection's thread at once (`stop()`), and the shielded close then waits forever for that thread
    (aiosqlite 0.22 awaits a second stop in a `finally`): the event loop can never finish its tasks, so the
    process does not exit on shutdown. Queuing the stop without awaiting it closes the connection the same
    way (in its thread, after what is queued) and cannot hang."""
    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection

    async def close_without_waiting(self) -> None:
        self._connection.stop()

    AsyncAdapt_aiosqlite_connection._terminate_graceful_close = close_without_waiting


_close_aiosqlite_without_waiting()


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
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        self._sync_engine: Engine | None = None
        m = re.match(r"sqlite\+aiosqlite:///(.+)", url)
        if m and m.group(1) != ":memory:":
            # the same file through the stdlib driver, for transaction(): one worker-thread hop per unit
            self._sync_engine = create_engine(f"sqlite:///{m.group(1)}", connect_args={"timeout": 30})
            event.listen(self._sync_engine, "connect", _sqlite_pragmas)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction and return its result. On a SQLite file the whole
        unit runs in a worker thread on a synchronous connection (one hop, instead of one per statement
        through aiosqlite); on PostgreSQL it runs through the async engine (`run_sync`)."""
        if self._sync_engine is not None:
            return await asyncio.to_thread(self._sync_transaction, work)
        async with self.engine.begin() as conn:
            return await conn.run_sync(work)

    def _sync_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._sync_engine.begin() as conn:
            return work(conn)

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        m = re.match(r"sqlite\+aiosqlite:///(.+)", url)
        if m and m.group(1) != ":memory:":
            Path(m.group(1)).parent.mkdir(parents=True, exist_ok=True)

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
        if self._sync_engine is not None:
            self._sync_engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
