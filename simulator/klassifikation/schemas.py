"""The shapes of the Klassifikation admin API (/api/klassifikation): the sortiment, its versions and Klasser,
the subscriptions and the delivery record (typed OpenAPI schemas of what `sortiment.py`, `state.py` and
`delivery.py` answer)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

IsoTime = Annotated[str, Field(description="ISO 8601 date-time with offset", json_schema_extra={"format": "date-time"})]
Aendringer = Annotated[
    list[dict[str, Any]],
    Field(description="the change set that made the version: {handling: tilfoej|ret|udgaa, klasse, …}"),
]


class Info(BaseModel):
    """A named LoRa object without hierarchy: the sortiment itself, its Klassifikation, a Facet."""

    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str = ""
    ejer: str | None = None


class KlasseOut(BaseModel):
    """A Klasse of a version (retired ones have `virkning_til`)."""

    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str
    facet: str = Field(description="Facet UUID")
    overordnet: str | None = Field(description="parent Klasse UUID")
    virkning_fra: IsoTime
    virkning_til: IsoTime | None = Field(description="end of Virkning: set when the Klasse is retired (udgået)")
    version: int = Field(description="the sortiment version that last changed this Klasse")
    aendringsnotat: str | None


class KlasseDetail(KlasseOut):
    versions: list[int] = Field(description="the versions that changed this Klasse")


class VersionSummary(BaseModel):
    """A version with the change set that made it."""

    version: int
    tidspunkt: IsoTime
    note: str
    origin: str = Field(description="file | api")
    klasser: int = Field(description="how many Klasser the version holds (retired ones included)")
    aendringer: Aendringer


class KlasseNode(BaseModel):
    uuid: str
    brugervendt_noegle: str
    titel: str
    beskrivelse: str
    virkning_fra: IsoTime
    virkning_til: IsoTime | None
    udgaaet: bool
    version: int
    underklasser: list[KlasseNode]


class FacetTree(BaseModel):
    uuid: str
    brugervendt_noegle: str
    titel: str
    klasser: list[KlasseNode] = Field(description="the Facet's top-level Klasser, each with its underklasser")


class SortimentOut(BaseModel):
    """The current version as a tree per Facet."""

    uuid: str
    brugervendt_noegle: str
    titel: str
    version: int
    tidspunkt: IsoTime
    note: str
    origin: str = Field(description="file | api")
    klasser: int
    aendringer: Aendringer
    facetter: list[FacetTree]


class SortimentSnapshot(BaseModel):
    """One version's full snapshot (as stored)."""

    sortiment: Info
    version: int
    tidspunkt: IsoTime
    note: str
    klassifikation: Info
    facetter: list[Info]
    klasser: list[KlasseOut]
    aendringer: Aendringer
    origin: str = Field(description="file | api")


class SubscriptionOut(BaseModel):
    """A debtor system's subscription for a municipality and what it has acknowledged."""

    id: str = Field(description="<cvr>:<system>")
    municipality: str
    system: str
    active: bool
    origin: str = Field(description="file | api")
    acknowledged_version: int | None
    acknowledged_at: IsoTime | None
    current_version: int
    up_to_date: bool
    failures: int = Field(description="consecutive failed deliveries")
    last_error: str | None
    next_attempt_at: IsoTime | None


class DeliveryOut(BaseModel):
    """One delivery attempt to one subscriber, with the receiver's receipt and the recorded exchange's id."""

    leverance_uuid: str
    subscription: str
    municipality: str
    system: str
    leverancetype: str = Field(description="Fuld | Aendring")
    from_version: int | None
    to_version: int
    klasser: int
    attempt: int
    started_at: IsoTime
    duration_ms: float | None
    outcome: str = Field(description="accepteret | afvist | fejl")
    exchange_id: str | None
    http_status: int | None
    fault_code: str | None
    kvittering: str | None = Field(description="the receiver's Forretningskvittering")
    kvittering_version: int | None
    detail: str


class RetryOut(SubscriptionOut):
    delivery: DeliveryOut | None = Field(description="the attempt made; null when up to date or paused")
