"""`simulator run --workers N`: several processes need engines they share, and say which is missing."""

from __future__ import annotations

from typer.testing import CliRunner

from simulator.cli import app


def test_workers_are_refused_on_embedded_engines_with_what_to_set(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SIMULATOR_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("SIMULATOR_BROKER_URL", raising=False)
    monkeypatch.setenv("SIMULATOR_COMPONENTS", '["ky", "beskedfordeler", "scenarios"]')
    from simulator.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["run", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    out = result.output
    assert "SIMULATOR_DATABASE_URL=postgresql+asyncpg://" in out and "SIMULATOR_BROKER_URL=amqp://" in out
    assert "'scenarios'" in out and "'klassifikation'" not in out
    assert not (tmp_path / "x.db").exists()  # refused before anything started
