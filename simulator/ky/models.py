"""Tables of the simulated KY ledger (migration 0002_ky). Amounts are stored in øre (integers)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simulator.store import Base

_BigId = BigInteger().with_variant(Integer, "sqlite")


class KyAccount(Base):
    """A debitorkonto KY owns in one municipality."""

    __tablename__ = "ky_account"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # Person | Virksomhed
    cpr: Mapped[str | None] = mapped_column(String(10))
    cvr: Mapped[str | None] = mapped_column(String(8))
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    registration: Mapped[dict | None] = mapped_column(JSON)  # what KY sent (for the record)

    __table_args__ = (
        Index("ix_ky_account_municipality", "municipality"),
        Index("ix_ky_account_cpr", "cpr"),
        Index("ix_ky_account_cvr", "cvr"),
    )


class KyAccountStatus(Base):
    """One entry of an account's status history (from KY itself or from Beskedfordeler messages)."""

    __tablename__ = "ky_account_status"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    account_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)  # ky | debitorsystem | beskedfordeler
    besked_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    exchange_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_ky_account_status_account", "account_uuid"),)


class KyClaim(Base):
    """A fordring: its amount in øre and its state."""

    __tablename__ = "ky_claim"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("ky_account.uuid"), nullable=False)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    fordringstype: Mapped[str] = mapped_column(String(36), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    movements: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    """Running sum of the postings' effects (outstanding = amount + movements), kept with every posting."""
    state: Mapped[str] = mapped_column(String(32), nullable=False)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    last_payment_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_ky_claim_account", "account_uuid"),)


class KySubClaim(Base):
    """A delfordring."""

    __tablename__ = "ky_subclaim"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    claim_uuid: Mapped[str] = mapped_column(ForeignKey("ky_claim.uuid"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    posting: Mapped[str | None] = mapped_column(String(255))  # kontering

    __table_args__ = (Index("ix_ky_subclaim_claim", "claim_uuid"),)


class KyLiability(Base):
    """A hæftelse: a party in a role on an account, valid from/to."""

    __tablename__ = "ky_liability"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_uuid: Mapped[str] = mapped_column(ForeignKey("ky_account.uuid"), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    cpr: Mapped[str | None] = mapped_column(String(10))
    cvr: Mapped[str | None] = mapped_column(String(8))
    name: Mapped[str | None] = mapped_column(String(255))
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_ky_liability_account", "account_uuid"),)


class KyPosting(Base):
    """A movement on a claim: KY's own payments (indbetaling, no effect on the balance until covered),
    coverages and write-offs reported by the debtor system, KY's down-adjustments, interest, fees.

    ``(kind, posting_uuid)`` is unique, so a repeated coverage id can never be counted twice.
    """

    __tablename__ = "ky_posting"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    posting_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # indbetaling|daekning|afskrivning|…
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    claim_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    subclaim_uuid: Mapped[str | None] = mapped_column(String(36))
    payment_uuid: Mapped[str | None] = mapped_column(String(36))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    on_date: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    exchange_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        UniqueConstraint("kind", "posting_uuid", name="uq_ky_posting_kind_uuid"),
        Index("ix_ky_posting_claim", "claim_uuid"),
        Index("ix_ky_posting_municipality_kind", "municipality", "kind"),
    )


class KyFordringTilIndbetaling(Base):
    """A "fordring til indbetaling" message KY received: who may pay a claim, and when."""

    __tablename__ = "ky_fordring_til_indbetaling"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    municipality: Mapped[str] = mapped_column(String(8), nullable=False)
    fordring_uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    authorities: Mapped[list] = mapped_column(JSON, nullable=False)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    besked_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_ky_fti_fordring", "fordring_uuid"),)
