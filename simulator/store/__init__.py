"""Persistence: one async engine, Alembic migrations, and the tables of the core."""

from simulator.store.db import Base, Database, where_equal
from simulator.store.models import AgreementRow, ConfigVersionRow, ExchangeRow, RouteRow

__all__ = ["AgreementRow", "Base", "ConfigVersionRow", "Database", "ExchangeRow", "RouteRow", "where_equal"]
