"""The database layer: what a stop or a cancelled call must never do to the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A call cancelled twice while its SQLite query runs (a request cancelled, then the app stopping), then
# the engine disposed and the event loop closed, as on shutdown. It prints "exited" only if the loop
# could finish every task.
SCRIPT = """
import asyncio, sys, threading
from sqlalchemy import event, text
from simulator.store.db import Database

started = threading.Event()
db = Database("sqlite+aiosqlite:///" + sys.argv[1])


@event.listens_for(db.engine.sync_engine, "connect")
def _register(dbapi_connection, _record):
    dbapi_connection.create_function("started", 1, lambda x: started.set() or 1)


SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) " \\
    "SELECT count(*) FROM c WHERE started(x)"


async def main():
    async def call():
        async with db.engine.connect() as conn:
            await conn.execute(text(SLOW))

    task = asyncio.create_task(call())
    await asyncio.to_thread(started.wait)  # the query is running in aiosqlite's thread
    task.cancel()
    await asyncio.sleep(0)  # two turns: SQLAlchemy is now closing the connection it invalidated
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    await db.close()


asyncio.run(main())
print("exited")
"""


def test_a_call_cancelled_during_a_sqlite_query_does_not_keep_the_process_from_exiting(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "x.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "exited", done.stderr[-2000:]
