"""Finding 7: personal data. Keys are private from their first byte, the SQLite file is 0600, the UI masks CPR
numbers (SIMULATOR_MASK_CPR), and recorded exchanges can be kept for a time (SIMULATOR_RETENTION_DAYS)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from simulator.security.personal import mask_cpr
from simulator.security.pki import init_pki
from simulator.serviceplatform import read_route_files
from simulator.store import ExchangeRow
from tests.serviceplatform.pingservice import envelope, write_routes

PATH = "/service/Test/Ping/1"
CPR = "0101901234"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_keys_are_never_readable_by_others_not_even_for_a_moment(tmp_path, monkeypatch, umask_022):
    """Every time a key file with content is seen (after a write, before a chmod), its mode is 0600."""
    seen: list[tuple[str, int]] = []
    write_bytes, chmod = Path.write_bytes, Path.chmod

    def look(path: Path) -> None:
        if path.suffix == ".key" and path.exists() and path.stat().st_size:
            seen.append((path.name, stat.S_IMODE(path.stat().st_mode)))

    def watched_write(self, data):
        out = write_bytes(self, data)
        look(self)
        return out

    def watched_chmod(self, mode, **kw):
        look(self)
        return chmod(self, mode, **kw)

    monkeypatch.setattr(Path, "write_bytes", watched_write)
    monkeypatch.setattr(Path, "chmod", watched_chmod)
    routes = write_routes(tmp_path / "routes", "builtin:nothing")
    pki, _ = init_pki(tmp_path / "certs", read_route_files(routes).systems)
    keys = sorted((tmp_path / "certs").rglob("*.key"))
    assert len(keys) >= 5  # CA, server, STS, two systems
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert all(mode == 0o600 for _name, mode in seen), f"a key was readable by others: {seen}"
    # --force rewrites existing keys: still private throughout
    init_pki(tmp_path / "certs", read_route_files(routes).systems, force=True)
    assert all(mode == 0o600 for _name, mode in seen), f"a key was readable by others: {seen}"


async def test_the_sqlite_database_is_private(sim_factory, tmp_path, umask_022):
    async with sim_factory(components=[], routes_dir=write_routes(tmp_path / "routes", "builtin:nothing")) as sim:
        await sim.client.post(PATH, content=envelope(), headers={"content-type": "text/xml"})
        db = Path(sim.settings.database_url.split("///", 1)[1])
        assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_cpr_numbers_are_masked_and_nothing_else():
    text = f"<c>{CPR}</c><c>010190-1234</c><n>3201901234</n><n>12{CPR}</n><u>a{CPR}</u><t>2026-11-30</t>"
    assert mask_cpr(text) == (
        "<c>010190xxxx</c><c>010190-xxxx</c><n>3201901234</n><n>120101901234</n><u>a0101901234</u><t>2026-11-30</t>"
    )


@pytest.mark.parametrize("masked", [True, False])
async def test_the_exchange_page_masks_cpr_numbers_unless_told_not_to(sim_factory, tmp_path, masked):
    routes = write_routes(tmp_path / "routes", "builtin:nothing")
    async with sim_factory(components=[], routes_dir=routes, mask_cpr=masked) as sim:
        r = await sim.client.post(PATH, content=envelope(text=CPR), headers={"content-type": "text/xml"})
        page = (await sim.client.get(f"/ui/traffic/{r.headers['x-simulator-exchange-id']}")).text
        assert (CPR in page) is not masked
        assert ("010190xxxx" in page) is masked


async def _age(sim, days: float) -> None:
    old = datetime.now(UTC) - timedelta(days=days)
    await sim.rt.db.transaction(lambda conn: conn.execute(update(ExchangeRow.__table__).values(started_at=old)))


async def _ids(sim) -> set[str]:
    rows = await sim.rt.db.transaction(lambda conn: conn.execute(select(ExchangeRow.__table__.c.id)).all())
    return {r[0] for r in rows}


async def test_exchanges_older_than_the_retention_time_are_deleted(sim_factory, tmp_path):
    routes = write_routes(tmp_path / "routes", "builtin:nothing")
    post = {"content": envelope(), "headers": {"content-type": "text/xml"}}
    async with sim_factory(components=[], routes_dir=routes) as sim:
        old = (await sim.client.post(PATH, **post)).headers["x-simulator-exchange-id"]
        await _age(sim, days=3)
    async with sim_factory(components=[], routes_dir=routes, retention_days=2) as sim:
        assert old not in await _ids(sim)  # pruned on start
        kept = (await sim.client.post(PATH, **post)).headers["x-simulator-exchange-id"]
        await _age(sim, days=2.5)
        sim.rt.recorder._aged_at -= 3600  # the next write is a minute after the last prune by age
        fresh = (await sim.client.post(PATH, **post)).headers["x-simulator-exchange-id"]
        assert await _ids(sim) == {fresh} and kept != fresh


def _recorded(body: str) -> dict:
    envelope_ = f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{body}</s:Body></s:Envelope>'
    return {
        "id": "00000000-0000-4000-8000-000000000001",
        "started_at": datetime.now(UTC),
        "municipality": None,
        "origin": "http",
        "service": "Ping",
        "operation": "Ping",
        "status": "ok",
        "system_uuid": None,
        "request_body": envelope_,
        "response_body": envelope_.replace("Forespoergsel", "Svar"),
    }


@pytest.mark.parametrize("masked", [True, False])
async def test_a_scenario_recorded_from_traffic_holds_no_cpr_number(sim_factory, masked):
    from simulator.scenarios.model import dumps
    from simulator.scenarios.record import build_scenario

    body = f"<Forespoergsel><PersonCPR>{CPR}</PersonCPR><Note>ukendt: 010190-1234 (2 forsøg)</Note></Forespoergsel>"
    async with sim_factory(mask_cpr=masked) as sim:
        text = dumps(build_scenario(sim.rt, [_recorded(body)], name="cpr"))
    assert (CPR in text) is not masked and ("010190-1234" in text) is not masked
    if masked:  # still matched: by birth date, any last four digits
        assert "regex: 010190-?\\d{4}\n" in text


async def test_the_besked_page_masks_cpr_numbers(sim_factory, monkeypatch):
    from simulator.beskedfordeler import api as bf

    async def besked(rt, besked_id):
        return {"besked_id": besked_id, "body": f"<Besked><PersonCPR>{CPR}</PersonCPR></Besked>", "leveringer": []}

    monkeypatch.setattr(bf, "besked", besked)
    async with sim_factory() as sim:
        page = (await sim.client.get("/ui/beskedfordeler/beskeder/b1")).text
    assert "010190xxxx" in page and CPR not in page
