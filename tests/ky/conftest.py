"""Fixtures for the KY tests: the simulator and the reference debtor system, both live on free ports."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from examples.reference_debtor.app import Config
from examples.reference_debtor.app import create_app as create_debtor_app
from simulator.config import Settings
from tests.conftest import LiveServer, free_port, point_routes_at


def _loadable(name: str) -> bool:
    try:
        return hasattr(importlib.import_module(f"simulator.{name}"), "component")
    except ImportError:
        return False


COMPONENTS = [n for n in Settings.model_fields["components"].default_factory() if _loadable(n)]
"""The default components that are present (KY's tests need only "ky"; the others register contracts
that the demo route files name)."""

DEMO_CVR = "11111111"
OTHER_CVR = "22222222"
KY_SYSTEM = "03328264-7db2-4e1c-b889-df4edc9691b2"
OPUS_SYSTEM = "706e258a-41f3-4a3b-a407-216db3ead494"
OPUS_AGREEMENT = "0908f8ba-4353-45cf-937a-401ce57c4501"  # opus × 11111111 × DaekningAfskrivning…
PRISME_AGREEMENT = "0ef1afc8-8838-4ffc-94c5-465a9cc8e742"  # prisme × 22222222
PRISME_SYSTEM = "b3072ce4-bcfc-45d2-a6a1-7e949918ad47"
DAEKNING_SERVICE = "67275f52-f9a2-484e-a869-92cad1a5572c"


def set_validation(routes_dir: Path, mode: str) -> None:
    """Validate every SF1590 service's requests and responses against our reference contract."""
    path = routes_dir / "services.yaml"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if line.strip().startswith("contract: sf1590/"):
            lines.append(line[: len(line) - len(line.lstrip())] + f"validation: {mode}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Env:
    sim: LiveServer
    debtor: LiveServer
    config: Config
    api: httpx.Client  # the simulator's admin API
    dapi: httpx.Client  # the reference debtor

    @property
    def debtor_system(self):
        return self.debtor.server.config.app.state.debtor


@pytest.fixture
def ky_env(routes_dir: Path, live_factory) -> Iterator[Env]:
    port = free_port()
    point_routes_at(routes_dir, f"http://127.0.0.1:{port}")
    set_validation(routes_dir, "strict")  # KY's requests and the debtor's answers must match the contract
    # These tests drive the coverage report by hand (POST /admin/<cvr>/report) and check KY's own status
    # history, so the reference debtor's automatic reporting and Beskedfordeler messages are switched off
    # (test_reference_debtor_messages.py covers them).
    config = Config.from_routes(routes_dir, "http://127.0.0.1:1", auto_report=False, publish_messages=False)
    with LiveServer(create_debtor_app(config), port=port) as debtor, live_factory(components=COMPONENTS) as sim:
        config.simulator_url = sim.url
        with (
            httpx.Client(base_url=sim.url + "/api/ky", timeout=30) as api,
            httpx.Client(base_url=debtor.url, timeout=30) as dapi,
        ):
            yield Env(sim=sim, debtor=debtor, config=config, api=api, dapi=dapi)
