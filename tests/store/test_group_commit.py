"""The group-commit writer: concurrent items share a transaction; one the database refuses fails alone (handed
to its lane's on_refused), is never retried, and never fails its neighbours; shutdown gives up within its bound
on a batch that cannot be written. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from simulator.store.db import Database
from simulator.store.group import GroupCommit, WriterStopped
from tests.conftest import POSTGRES_URL, postgres_schema


@asynccontextmanager
async def database(backend: str, tmp_path) -> AsyncIterator[Database]:
    async def ready(db: Database) -> Database:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE item (name VARCHAR(8) NOT NULL, n INTEGER NOT NULL)"))
        return db

    if backend == "postgres":
        async with postgres_schema() as schema:
            db = await ready(Database(POSTGRES_URL, schema=schema))
            try:
                yield db
            finally:
                await db.close()
    else:
        db = await ready(Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"))
        try:
            yield db
        finally:
            await db.close()


def insert(conn, items: list[dict]) -> list[str]:
    conn.execute(text("INSERT INTO item (name, n) VALUES (:name, :n)"), items)
    return [f"stored {i['name']}" for i in items]


async def names(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return sorted((await conn.execute(text("SELECT name FROM item"))).scalars())


async def test_an_item_the_database_refuses_fails_alone(backend, tmp_path) -> None:
    async with database(backend, tmp_path) as db:
        group = GroupCommit(db)
        plain = group.lane("plain", insert)
        seen: list[str] = []

        def mark(conn, item: dict, error: BaseException) -> str:
            seen.append(item["name"])
            conn.execute(text("INSERT INTO item (name, n) VALUES ('marked', 0)"))
            return "marked"

        marking = group.lane("marking", insert, on_refused=mark)
        items = [{"name": f"i{i}", "n": i} for i in range(6)]
        items[2]["n"] = None  # NOT NULL: refused
        marking_item = {"name": "m", "n": None}
        outcomes = await asyncio.gather(
            *(plain.submit(i) for i in items), marking.submit(marking_item), return_exceptions=True
        )
        assert [o for i, o in enumerate(outcomes[:6]) if i != 2] == [f"stored i{i}" for i in (0, 1, 3, 4, 5)]
        assert isinstance(outcomes[2], Exception)  # the lane has no on_refused: the error is the outcome
        assert outcomes[6] == "marked" and seen == ["m"]
        assert await names(db) == ["i0", "i1", "i3", "i4", "i5", "marked"]
        health = group.health()
        assert health["ok"] and health["pending"] == 0 and health["last_error"] is None
        assert health["lanes"] == {"plain": {"pending": 0, "refused": 1}, "marking": {"pending": 0, "refused": 1}}
        assert await plain.submit({"name": "after", "n": 9}) == "stored after"
        await group.stop()


async def test_stop_gives_up_on_a_batch_that_cannot_be_written(tmp_path) -> None:
    async with database("sqlite", tmp_path) as db:
        group = GroupCommit(db, stuck_after_s=0)
        release = threading.Event()
        entered = threading.Event()

        def stuck(conn, items: list[dict]) -> None:  # as a write waiting for a lock held elsewhere
            entered.set()
            release.wait(30)

        lane = group.lane("stuck", stuck)
        waiting = asyncio.create_task(lane.submit({"name": "x", "n": 1}))
        queued = asyncio.create_task(lane.submit({"name": "y", "n": 2}))
        await asyncio.to_thread(entered.wait, 30)
        assert group.health()["ok"] is False and group.health()["pending"] == 2
        assert await group.stop(timeout_s=0.1) == 2
        for task in (waiting, queued):
            with pytest.raises(WriterStopped):
                await task
        with pytest.raises(WriterStopped):
            await lane.submit({"name": "z", "n": 3})
        release.set()
