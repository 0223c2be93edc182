"""The shape of GET /healthz: one section per part of the simulator, each with `ok`.

A section lists the keys its part answers; a key a part leaves out is left out of the answer too
(the route answers with `response_model_exclude_unset`). Sections allow further keys, so a component
that reports more is shown, not cut."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class DatabaseHealth(BaseModel):
    ok: bool
    dialect: str = Field(description="sqlite | postgresql")


class RecorderHealth(BaseModel):
    pending: int = Field(description="exchanges waiting to be recorded")
    last_error: str | None


class LaneHealth(BaseModel):
    pending: int
    refused: int = Field(description="items refused because the lane was full")


class WriterHealth(BaseModel):
    """The database writer (simulator/store/group.py): exchanges and KY bookings, written in groups."""

    ok: bool = Field(description="false while the database fails, or an item has waited writer_stuck_after_s")
    pending: int
    oldest_wait_s: float = Field(description="how long the oldest item being written has waited")
    last_error: str | None
    lanes: dict[str, LaneHealth] = Field(description="by lane name")


class BrokerHealth(_Section):
    ok: bool
    kind: str = Field(description="in-process | rabbitmq | none")
    queues: int | None = Field(default=None, description="in-process: how many queues")
    host: str | None = None
    port: int | None = None
    vhost: str | None = None
    reconnects: int | None = None
    error: str | None = None


class KyHealth(_Section):
    ok: bool


class BeskedfordelerHealth(_Section):
    ok: bool
    broker: BrokerHealth
    accepted: int | None = None
    refused: int | None = None
    relay_error: str | None = None
    stopped_dueslag: list[str] | None = None


class KlassifikationHealth(_Section):
    ok: bool
    enabled: bool
    reason: str | None = Field(default=None, description="why it is disabled")
    sortiment_version: int | None = None
    subscribers: int | None = None
    up_to_date: int | None = None
    failing: int | None = None
    problem: str | None = None


class SecurityHealth(_Section):
    ok: bool
    mode: str = Field(description="off | certificate | token | both")
    tls: bool
    besked_proof: bool


class ScenariosHealth(_Section):
    ok: bool
    running: int


class Health(_Section):
    """`ok` is false (and the status 503) when a section is not ok. A section per running component."""

    version: str
    database: DatabaseHealth
    recorder: RecorderHealth
    writer: WriterHealth
    ky: KyHealth | None = None
    beskedfordeler: BeskedfordelerHealth | None = None
    klassifikation: KlassifikationHealth | None = None
    security: SecurityHealth | None = None
    scenarios: ScenariosHealth | None = None
    broker: BrokerHealth = Field(description="the Beskedfordeler's broker; kind none without it")
    ok: bool
