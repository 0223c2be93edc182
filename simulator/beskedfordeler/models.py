"""Beskedfordeler tables: accepted messages (the outbox), one delivery row per message × dueslag,
delivery attempts, and the run-time dueslag/abonnementer. (What the simulated KY received:
simulator/ky/besked_receiver.py.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.store import Base

_BigId = BigInteger().with_variant(Integer, "sqlite")


class BfBesked(Base):
    """A message answered with StatusKode 20: persisted before the answer, the source of every copy."""

    __tablename__ = "bf_besked"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    besked_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # amqp | http | intern
    system: Mapped[str] = mapped_column(String(64), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    beskedtype: Mapped[str] = mapped_column(String(255), nullable=False)
    transaktions_id: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class BfLevering(Base):
    """One copy of one message for one dueslag (unique: exactly once per dueslag).

    state: pending (not yet on the broker) → queued (the broker holds it) → acked | delivered (push)
    | fejlkoe (moved to the error queue); the in-process broker keeps its queues in these rows."""

    __tablename__ = "bf_levering"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    besked_id: Mapped[str] = mapped_column(String(255), nullable=False)
    dueslag: Mapped[str] = mapped_column(String(36), nullable=False)
    abonnement: Mapped[str] = mapped_column(String(36), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    tilladte_modtagere: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        UniqueConstraint("besked_id", "dueslag", name="uq_bf_levering_besked_dueslag"),
        Index("ix_bf_levering_state", "state", "dueslag"),
    )


class BfForsoeg(Base):
    """One push delivery attempt (or one KY reception)."""

    __tablename__ = "bf_forsoeg"

    seq: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    besked_id: Mapped[str] = mapped_column(String(255), nullable=False)
    dueslag: Mapped[str] = mapped_column(String(36), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    target: Mapped[str] = mapped_column(String(512), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # sendt (unanswered) | leveret | pause | stoppet
    http_status: Mapped[int | None] = mapped_column(Integer)
    statuskode: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)

    __table_args__ = (Index("ix_bf_forsoeg_dueslag", "dueslag", "seq"),)


class BfDueslag(Base):
    __tablename__ = "bf_dueslag"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON, nullable=False)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="file")
    stopped: Mapped[str | None] = mapped_column(Text)  # why push delivery stopped, or None


class BfAbonnement(Base):
    __tablename__ = "bf_abonnement"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON, nullable=False)
    origin: Mapped[str] = mapped_column(String(8), nullable=False, default="file")
