"""Tables of the Klassifikation component: sortiment versions, subscriptions, deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from simulator.store import Base


class SortimentVersionRow(Base):
    """One version of a sortiment: the full snapshot and the change set that made it."""

    __tablename__ = "klassifikation_sortiment_version"

    sortiment_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    tidspunkt: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    origin: Mapped[str] = mapped_column(String(8), nullable=False)  # file | api
    aendringer: Mapped[list] = mapped_column(JSON, nullable=False)
    snapshot: Mapped[dict] = mapped_column(JSON, nullable=False)


class SubscriptionRow(Base):
    """A debtor system's subscription to the sortiment, per municipality, and what it has acknowledged."""

    __tablename__ = "klassifikation_subscription"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # "<cvr>:<system>"
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    system: Mapped[str] = mapped_column(String(64), nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="file")  # file | api
    acknowledged_version: Mapped[int | None] = mapped_column(Integer)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # consecutive failed deliveries
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class DeliveryRow(Base):
    """One delivery attempt to one subscriber, with the receiver's receipt."""

    __tablename__ = "klassifikation_delivery"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # LeveranceUUID
    subscription_id: Mapped[str] = mapped_column(String(100), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    system: Mapped[str] = mapped_column(String(64), nullable=False)
    sortiment_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    leverancetype: Mapped[str] = mapped_column(String(16), nullable=False)  # Fuld | Aendring
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer, nullable=False)
    klasser: Mapped[int] = mapped_column(Integer, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[float | None] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # accepteret | afvist | fejl
    exchange_id: Mapped[str | None] = mapped_column(String(36))
    http_status: Mapped[int | None] = mapped_column(Integer)
    fault_code: Mapped[str | None] = mapped_column(String(32))
    kvittering: Mapped[str | None] = mapped_column(String(16))  # Forretningskvittering
    kvittering_version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")

    __table_args__ = (Index("ix_klassifikation_delivery_sub", "subscription_id", "started_at"),)
