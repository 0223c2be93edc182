"""Scenario variables: fresh values per run (``uuid``, ``cpr``, dates, …) and ``${name}`` substitution."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simulator.scenarios.model import Matcher

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class StepFailure(Exception):
    """A step that cannot go on; the message says what was missing."""


def _cpr() -> str:
    born = date(1940, 1, 1) + timedelta(days=random.randrange(60 * 365))
    return born.strftime("%d%m%y") + f"{random.randrange(10_000):04d}"


def generate(name: str, spec: Any) -> str:
    """A fresh value for one variable."""
    if isinstance(spec, dict):
        if "value" in spec:
            return str(spec["value"])
        if "date" in spec:
            return (date.today() + timedelta(days=int(spec["date"]))).isoformat()
        raise ValueError(f"variable {name}: use a kind, {{value: …}} or {{date: +N}}")
    kinds: dict[str, Callable[[], str]] = {
        "uuid": lambda: str(uuid.uuid4()),
        "date": lambda: date.today().isoformat(),
        "datetime": lambda: datetime.now(UTC).isoformat(timespec="seconds"),
        "cpr": _cpr,
        "cvr": lambda: str(random.randrange(10_000_000, 100_000_000)),
    }
    if spec not in kinds:
        raise ValueError(f"variable {name}: unknown kind {spec!r} (one of {', '.join(kinds)})")
    return kinds[spec]()


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """``${name}`` → the run's value, in every string of a nested structure."""
    if isinstance(value, str):

        def repl(m: re.Match) -> str:
            if m.group(1) not in variables:
                raise StepFailure(f"unknown variable ${{{m.group(1)}}} (declare it under variables)")
            return variables[m.group(1)]

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


def resolve_matchers(ms: list[Matcher], variables: dict[str, str]) -> list[Matcher]:
    return [Matcher.model_validate(substitute(m.model_dump(exclude_none=True), variables)) for m in ms]


DATE_ARGS = (
    "valid_from",
    "valid_to",
    "due_date",
    "last_payment_date",
    "period_from",
    "period_to",
    "value_date",
)


def as_dates(value: Any) -> Any:
    """ISO dates under the ledger's date keys → date objects (the ledger stores them as dates)."""
    if isinstance(value, dict):
        return {
            k: date.fromisoformat(v) if k in DATE_ARGS and isinstance(v, str) else as_dates(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [as_dates(v) for v in value]
    return value
