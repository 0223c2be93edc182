"""The shapes of the Beskedfordeler's HTTP API (request bodies and response models: the typed OpenAPI a
client can be generated from)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Rows(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- public (HTTP pull) ---------------------------------------------------------------------------------------


class KvitteringerIn(BaseModel):
    """The pulled messages to acknowledge (kvitter) or refuse (afvis): the receiver's reply, not an SF2900 receipt."""

    kvitteringer: list[str] = Field(description="the `kvittering` values from hent")
    requeue: bool = Field(True, description="afvis only: false moves the messages to the error queue")


class Hentet(BaseModel):
    kvittering: str = Field(description="acknowledge (kvitter) or refuse (afvis) the message with this value")
    besked_id: str
    redelivered: bool = Field(description="the message was handed out before and came back")
    besked: str = Field(description="the delivered Haendelsesbesked (XML)")


class HentSvar(BaseModel):
    beskeder: list[Hentet]


class KvitteringSvar(BaseModel):
    done: list[str]
    unknown: list[str] = Field(description="kvitteringer that are not (or no longer) leased from this dueslag")


# -- admin ----------------------------------------------------------------------------------------------------


class Status(BaseModel):
    ok: bool
    broker: dict[str, Any] = Field(description="ok, kind (in-process | rabbitmq), host, port, vhost, reconnects")
    accepted: int
    refused: int
    relay_error: str | None = None
    stopped_dueslag: list[str]


class Returkode(BaseModel):
    code: str
    statuskode: int
    meaning: str


class BeskedtypeOut(BaseModel):
    name: str
    uuid: str
    namespace: str | None
    schema_: str | None = Field(alias="schema", serialization_alias="schema")
    description: str

    model_config = ConfigDict(populate_by_name=True)


class BeskedOut(_Rows):
    besked_id: str
    received_at: datetime
    channel: str
    system: str
    municipality: str
    beskedtype: str
    transaktions_id: str


class LeveringOut(_Rows):
    seq: int
    besked_id: str
    dueslag: str
    abonnement: str
    state: str = Field(
        description="pending | queued | udleveret (pulled over AMQP: acked or held by a consumer) | acked "
        "| delivered | fejlkoe"
    )
    tilladte_modtagere: list[str] | None
    attempts: int
    updated_at: datetime


class ForsoegOut(_Rows):
    seq: int
    besked_id: str
    dueslag: str
    attempt: int
    at: datetime
    target: str
    outcome: str = Field(description="sendt (recorded before it is sent, no answer yet) | leveret | pause | stoppet")
    http_status: int | None
    statuskode: int | None
    detail: str
    duration_ms: float


class BeskedDetail(BeskedOut):
    body: str
    leveringer: list[LeveringOut]
    forsoeg: list[ForsoegOut]


class DueslagIn(BaseModel):
    uuid: str
    system: str
    levering: Literal["pull", "push"] = "pull"
    callback: str | None = None
    navn: str = ""
    pause_s: float | None = None


class DueslagOut(DueslagIn):
    levering: str
    origin: str


class DueslagState(DueslagOut):
    stopped: str | None = Field(description="why push delivery stopped, or null")
    depth: dict[str, int | None] = Field(description="klar, fejlkoe (and ikke_kvitteret / forbrugere)")
    abonnementer: list[str]


class AbonnementIn(BaseModel):
    uuid: str
    dueslag: str
    beskedtyper: list[str]
    filtre: dict[str, list[str]] = Field(default_factory=dict)
    navn: str = ""


class AbonnementOut(AbonnementIn):
    origin: str


class BeskedRef(BaseModel):
    besked_id: str | None = Field(None, description="the BeskedId; empty = the first message in the queue")


class Deleted(BaseModel):
    deleted: bool


class Moved(BaseModel):
    moved: str


class MovedBack(BaseModel):
    moved: list[str]


class Resumed(BaseModel):
    resumed: str
