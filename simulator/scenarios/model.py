"""The scenario file format (docs/scenarios.md, JSON Schema in docs/scenario.schema.json).

A scenario is YAML or JSON with ``format: 1``: name, description, default municipality, ``variables``
(fresh values per run, substituted as ``${name}`` everywhere), ``normalise`` rules for volatile fields,
and ordered ``steps``. Files of older formats are upgraded on load (``UPGRADES``); the loader names the
file, the step and the field of every problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FORMAT = 1
"""The current format version; older files are upgraded on load."""

VARIABLE_KINDS = ("uuid", "date", "datetime", "cpr", "cvr", "amount")


class ScenarioError(ValueError):
    """A scenario file that cannot be loaded; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Matcher(_Model):
    """One check on an XML document. ``path`` is XPath 1.0 on the document with namespaces removed
    (``//Forretningskvittering/ForretningsValideringsKode``); the first selected node's text is compared."""

    path: str = Field(description="XPath without namespace prefixes (namespaces are ignored)")
    equals: str | None = Field(default=None, description="exact text (after ${} substitution)")
    regex: str | None = Field(default=None, description="the text must match this regular expression (fullmatch)")
    number: float | str | None = Field(default=None, description="the text is a number equal to this ± tolerance")
    tolerance: float = Field(default=0.0, ge=0, description="allowed difference for `number`")
    exists: bool | None = Field(default=None, description="true: at least one node; false: none")
    count: int | None = Field(default=None, ge=0, description="exactly this many nodes")
    note: str | None = Field(default=None, description="shown with the verdict")

    @model_validator(mode="after")
    def _one_kind(self) -> Matcher:
        kinds = [k for k in ("equals", "regex", "number", "exists", "count") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a matcher needs exactly one of equals, regex, number, exists, count (got {kinds or 'none'})"
            )
        return self


class NormaliseRule(_Model):
    """A volatile field: ``ignore`` drops the node before comparison; ``mask`` replaces its text with
    ``*``; ``regex`` + ``replace`` rewrites its text. ``path`` is an XPath like a matcher's."""

    path: str
    action: Literal["ignore", "mask", "replace"] = "ignore"
    regex: str | None = None
    replace: str = ""


class KyAction(_Model):
    """A KY action through KY's ledger (sent through the platform: agreement, route, recording)."""

    action: Literal[
        "create_account",
        "pay",
        "change_claim_state",
        "end_liability",
        "search_accounts",
        "read_account",
        "open_subclaims",
    ]
    args: dict[str, Any] = Field(default_factory=dict, description="the ledger method's arguments")


class SendAction(_Model):
    """A raw SOAP call through the platform as a named system (its agreement is looked up)."""

    system: str = Field(description="system key from routes/systems.yaml, e.g. ky or opus")
    service: str
    operation: str | None = Field(default=None, description="default: the payload element's name minus 'Request'")
    payload: str = Field(description="the request element's XML, without the context elements (they are added)")


class ReceiveAction(_Model):
    """Wait until a call into the platform matching service/operation/municipality and ``match`` is recorded."""

    service: str
    operation: str | None = None
    municipality: str | None = Field(default=None, description="default: the run's municipality")
    within_s: float = Field(default=10.0, gt=0, description="how long to wait")
    match: list[Matcher] = Field(default_factory=list, description="on the request: selects this run's call")


class ReceiveMessageAction(_Model):
    """Wait until the Beskedfordeler has answered a message of ``beskedtype`` matching ``match``."""

    beskedtype: str = Field(description="name (DebitorkontoStatusskift, FordringTilIndbetaling) or UUID")
    alternatives: list[str] = Field(default_factory=list, description="other beskedtyper that also satisfy the step")
    municipality: str | None = None
    within_s: float = Field(default=10.0, gt=0)
    match: list[Matcher] = Field(default_factory=list, description="on the Haendelsesbesked")


class Step(_Model):
    """One step; exactly one of ky, send, receive, receive_message."""

    id: str | None = Field(default=None, description="a name for the step (reports, `needs`)")
    title: str | None = None
    item: str | None = Field(default=None, description="readiness checklist item this step proves (1a…3)")
    needs: list[str] = Field(default_factory=list, description="step ids or items that must have passed first")
    ky: KyAction | None = None
    send: SendAction | None = None
    receive: ReceiveAction | None = None
    receive_message: ReceiveMessageAction | None = None
    expect: list[Matcher] = Field(
        default_factory=list,
        description="on the response (ky/send) or the received call's response (receive)",
    )
    expect_request: list[Matcher] = Field(default_factory=list, description="receive: on the received request")
    expect_status: Literal["ok", "fault", "accepted", "refused", "any"] = Field(
        default="ok", description="the exchange's status (ok/fault) or decision (accepted/refused)"
    )
    capture: dict[str, str] = Field(default_factory=dict, description="variable → XPath on the response/request")

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("ky", "send", "receive", "receive_message") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one of ky, send, receive, receive_message (got {kinds or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("ky", "send", "receive", "receive_message") if getattr(self, k) is not None)

    def label(self, index: int) -> str:
        if self.title:
            return self.title
        if self.ky:
            return f"KY {self.ky.action}"
        if self.send:
            return f"send {self.send.service} as {self.send.system}"
        if self.receive:
            return f"receive {self.receive.service} {self.receive.operation or ''}".strip()
        assert self.receive_message
        return f"receive message {self.receive_message.beskedtype}"


VariableSpec = Annotated[
    str | dict[str, Any],
    Field(description="a kind (uuid, date, datetime, cpr, cvr, amount), {value: …}, or {date: +N} (days from today)"),
]


class Scenario(_Model):
    format: Literal[1] = FORMAT
    name: str
    description: str = ""
    municipality: str | None = Field(default=None, description="default CVR; --municipality overrides")
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    normalise: list[NormaliseRule] = Field(default_factory=list)
    continue_on_failure: bool = Field(default=False, description="run later steps after a failure")
    steps: list[Step] = Field(min_length=1)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"format": FORMAT}


# -- versions ---------------------------------------------------------------------------------------


def _upgrade_0(doc: dict[str, Any]) -> dict[str, Any]:
    """Format 0 (no ``format`` key, the first draft): ``expect`` was a mapping path → value (equality),
    ``receive`` had ``timeout`` instead of ``within_s``, and ``volatile`` was a list of paths to ignore."""
    doc = dict(doc)
    doc.pop("format", None)
    doc["normalise"] = [{"path": p, "action": "ignore"} for p in doc.pop("volatile", []) or []] + list(
        doc.get("normalise") or []
    )
    steps = []
    for step in doc.get("steps") or []:
        step = dict(step)
        for key in ("expect", "expect_request"):
            if isinstance(step.get(key), dict):
                step[key] = [{"path": p, "equals": str(v)} for p, v in step[key].items()]
        for kind in ("receive", "receive_message"):
            if isinstance(step.get(kind), dict) and "timeout" in step[kind]:
                step[kind] = dict(step[kind])
                step[kind]["within_s"] = step[kind].pop("timeout")
            if isinstance(step.get(kind), dict) and isinstance(step[kind].get("match"), dict):
                step[kind]["match"] = [{"path": p, "equals": str(v)} for p, v in step[kind]["match"].items()]
        steps.append(step)
    doc["steps"] = steps
    doc["format"] = 1
    return doc


UPGRADES = {0: _upgrade_0}
"""format N → N+1; applied in order until FORMAT."""


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    version = doc.get("format", 0)
    if not isinstance(version, int) or version < 0:
        raise ScenarioError(f"format must be a whole number (got {version!r})")
    if version > FORMAT:
        raise ScenarioError(f"format {version} is newer than this simulator understands ({FORMAT}); upgrade it")
    while version < FORMAT:
        doc = UPGRADES[version](doc)
        version = doc["format"]
    return doc


def parse(doc: Any, source: str = "<scenario>") -> Scenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping (name, steps, …)")
    try:
        return Scenario.model_validate(upgrade(doc))
    except ScenarioError as e:
        raise ScenarioError(f"{source}: {e}") from None
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{source}: {where}: {err['msg']}")
        raise ScenarioError("\n".join(problems)) from None


def loads(text: str, source: str = "<scenario>") -> Scenario:
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as e:
        raise ScenarioError(f"{source}: not valid YAML/JSON: {e}") from None
    return parse(doc, source)


def load(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{path}: {e.strerror or e}") from None
    return loads(text, str(path))


def dumps(scenario: Scenario) -> str:
    return yaml.safe_dump(scenario.dump(), sort_keys=False, allow_unicode=True, width=110)


def json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ky-debtor-simulator/scenario.schema.json"
    schema["title"] = "KY debtor simulator scenario (format 1)"
    return schema
