"""Fixtures for the scenario tests: the simulator served on a real port *in the test's event loop* (so a
test can drive runs directly on its runtime), and the reference debtor system on another port (its own
thread) with its routes pointing at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from lxml import etree

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.app import create_app
from tests.conftest import LiveServer, free_port, make_settings, point_routes_at

CVR = "11111111"
# the strict JUnit schema (Apache Ant's format) CI servers check reports against
JUNIT_ANT = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("junit_ant.xsd"))))
COMPONENTS = ["ky", "beskedfordeler", "klassifikation", "scenarios"]


@asynccontextmanager
async def serve(app, port: int) -> AsyncIterator[None]:
    """Serve an ASGI app on a port in the current event loop (lifespan on: starts the runtime)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:  # poll the server's own flag, with a deadline
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@dataclass
class Env:
    app: object
    url: str
    debtor: LiveServer
    debtor_app: object
    debtor_config: Config
    routes_dir: Path
    tmp: Path

    @property
    def rt(self):
        return self.app.runtime

    @property
    def debtor_system(self):
        return self.debtor_app.state.debtor


@pytest.fixture
async def env(tmp_path, routes_dir, messages_dir) -> AsyncIterator[Env]:
    dport, sport = free_port(), free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{dport}")
    sim_url = f"http://127.0.0.1:{sport}"
    # the reference debtor as shipped: auto-report (1d) and Beskedfordeler messages (1e) are on by default
    config = Config.from_routes(routes_dir, sim_url, messages_dir=messages_dir)
    debtor_app = create_debtor_app(config)
    settings = make_settings(tmp_path, routes_dir, messages_dir, port=sport, components=COMPONENTS)
    app = create_app(settings)
    with LiveServer(debtor_app, port=dport) as debtor:
        async with serve(app, sport):
            yield Env(
                app=app,
                url=sim_url,
                debtor=debtor,
                debtor_app=debtor_app,
                debtor_config=config,
                routes_dir=routes_dir,
                tmp=tmp_path,
            )


async def seed_write_off(rt, debtor_url: str, cvr: str = CVR) -> str:
    """Evidence for item 1d that the reference debtor system gives only on request: KY registers an account,
    the debtor system writes its claim off (POST /admin/<cvr>/afskrivninger) and KY books it. Returns the
    write-off's exchange id."""
    import httpx

    from simulator.capabilities import KyActions

    out = await rt.find(KyActions).create_account(
        {"municipality": cvr, "debitor": {"cpr": "0101701234", "name": "Evidence"}, "claims": [{"amount": "75.00"}]}
    )
    assert out["sent"]["accepted"], out["sent"]
    claim = out["account"]["claims"][0]["uuid"]
    async with httpx.AsyncClient(base_url=debtor_url, timeout=30) as c:
        r = await c.post(f"/admin/{cvr}/afskrivninger", json={"claim_uuid": claim, "amount": "75.00"})
    assert r.status_code == 200 and r.json()["status"] == "ACCEPTERET", r.text
    return r.json()["postings"][0]["exchange_id"]


def seed_write_off_http(sim_url: str, debtor_url: str, cvr: str = CVR) -> None:
    """:func:`seed_write_off` through the admin APIs, for tests that run the simulator in another thread."""
    import httpx

    acc = httpx.post(
        f"{sim_url}/api/ky/accounts",
        json={"municipality": cvr, "debitor": {"cpr": "0101701234", "name": "Evidence"}, "claims": [{"amount": "75"}]},
        timeout=30,
    ).json()
    assert acc["sent"]["accepted"], acc
    r = httpx.post(
        f"{debtor_url}/admin/{cvr}/afskrivninger",
        json={"claim_uuid": acc["account"]["claims"][0]["uuid"], "amount": "75.00"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["status"] == "ACCEPTERET", r.text
