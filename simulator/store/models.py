"""Core tables: recorded exchanges, and the run-time copies of routes and agreements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from simulator.store.db import Base

_BigId = BigInteger().with_variant(Integer, "sqlite")


class ExchangeRow(Base):
    """One SOAP exchange as the platform saw it: decision, bodies, timings."""

    __tablename__ = "exchange"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # http | ky | klassifikation | …
    service: Mapped[str | None] = mapped_column(String(128))
    operation: Mapped[str | None] = mapped_column(String(128))
    municipality: Mapped[str | None] = mapped_column(String(8))
    system_uuid: Mapped[str | None] = mapped_column(String(64))
    agreement_uuid: Mapped[str | None] = mapped_column(String(64))
    route_target: Mapped[str | None] = mapped_column(String(512))
    decision: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # ok | fault
    fault_code: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int] = mapped_column(Integer, nullable=False)
    callers_call_id: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    session: Mapped[str | None] = mapped_column(String(128))
    provider_ms: Mapped[float | None] = mapped_column(Float)
    request_body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    response_body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    request_truncated: Mapped[bool] = mapped_column(default=False)
    response_truncated: Mapped[bool] = mapped_column(default=False)
    violations: Mapped[list | None] = mapped_column(JSON)
    context: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_exchange_started_at", "started_at"),
        Index("ix_exchange_service_op", "service", "operation"),
        Index("ix_exchange_municipality", "municipality"),
        Index("ix_exchange_status", "status"),
        Index("ix_exchange_callers_call_id", "callers_call_id"),
        Index("ix_exchange_correlation_id", "correlation_id"),
        Index("ix_exchange_session", "session"),
    )


class RouteRow(Base):
    """A route as it stands at run time: seeded from routes/, editable through the admin API."""

    __tablename__ = "route"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<service>:<municipality>"
    service: Mapped[str] = mapped_column(String(128), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)  # CVR or "*"
    target: Mapped[str] = mapped_column(String(512), nullable=False)
    fault: Mapped[dict | None] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="file")  # file | api
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AgreementRow(Base):
    """A serviceaftale: calling system × municipality × service."""

    __tablename__ = "agreement"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    system: Mapped[str] = mapped_column(String(64), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    service: Mapped[str] = mapped_column(String(128), nullable=False)
    beskedtyper: Mapped[list | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="file")


class ConfigVersionRow(Base):
    """One row; bumped on every route or agreement edit so other processes reload."""

    __tablename__ = "config_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
