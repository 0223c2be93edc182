"""The server process (`simulator run` → `main_app`) starts with the garbage collector off and, once started,
freezes what start made (`gc.freeze`) and turns it back on: a full collection under load then walks only what
was made since (one walked the whole start heap, >100 ms, stalling every call in flight)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import asyncio, gc, json
from simulator.app import main_app

app = main_app()
seen = {"disabled_before_start": not gc.isenabled()}

async def main():
    async with app.api.router.lifespan_context(app.api):
        seen["enabled_after_start"] = gc.isenabled()
        seen["frozen"] = gc.get_freeze_count()

asyncio.run(main())
print(json.dumps(seen))
"""


def test_the_server_process_freezes_its_start_heap(tmp_path: Path) -> None:
    env = os.environ | {
        "SIMULATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}",
        "SIMULATOR_COMPONENTS": '["ky"]',
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["disabled_before_start"] and seen["enabled_after_start"]
    assert seen["frozen"] > 100_000  # the start heap (frameworks, contracts, routes) is out of the collector's walk
