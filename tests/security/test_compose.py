"""Finding 6: docker/compose.yaml publishes nothing beyond 127.0.0.1 unless told to, and sets an admin token
from the environment (compose refuses to start without one)."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
_VAR = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*)|(:?\?)([^}]*))?\}")


class Unset(Exception):
    """A required variable (`${VAR:?message}`) is not set."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""

    def one(m: re.Match) -> str:
        name, dash, default, query = m.group(1), m.group(2), m.group(3), m.group(4)
        value = env.get(name)
        if query:
            if not value:
                raise Unset(name)
            return value
        if dash == ":-":
            return value or default
        if dash == "-":
            return default if value is None else value
        return value or ""

    return _VAR.sub(one, text)


def published(env: dict[str, str]) -> dict[str, list[str]]:
    """Each service's published ports as compose reads them with `env`."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: [interpolate(str(p), env) for p in svc.get("ports", [])] for name, svc in services.items()}


def test_every_published_port_is_bound_to_localhost_by_default():
    ports = published({"SIMULATOR_ADMIN_TOKEN": "x"})
    assert {p.rsplit(":", 1)[-1] for ps in ports.values() for p in ps} == {"8000", "5672", "15672", "5432"}
    for service, entries in ports.items():
        for entry in entries:
            assert entry.startswith("127.0.0.1:"), f"{service} publishes {entry} on every interface"


def test_one_variable_exposes_the_ports_deliberately():
    ports = published({"SIMULATOR_ADMIN_TOKEN": "x", "SIMULATOR_BIND_ADDRESS": "0.0.0.0"})
    assert all(p.startswith("0.0.0.0:") for ps in ports.values() for p in ps)


def test_the_simulator_gets_its_admin_token_from_the_environment_and_needs_one():
    env = yaml.safe_load(COMPOSE.read_text())["services"]["simulator"]["environment"]
    raw = str(env["SIMULATOR_ADMIN_TOKEN"])
    assert interpolate(raw, {"SIMULATOR_ADMIN_TOKEN": "s3cret"}) == "s3cret"
    try:
        interpolate(raw, {})
    except Unset:
        pass
    else:
        raise AssertionError("compose starts the simulator without an admin token")
