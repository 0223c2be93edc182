"""Persistence: one async engine, Alembic migrations, and the tables of the core."""

from simulator.store.db import Base, Database
from simulator.store.models import AgreementRow, ExchangeRow, RouteRow

__all__ = ["AgreementRow", "Base", "Database", "ExchangeRow", "RouteRow"]
