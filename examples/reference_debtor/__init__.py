"""A reference debtor system for the simulator's SF1590 reference contract (see app.py)."""

from examples.reference_debtor.app import Config, DebtorSystem, create_app

__all__ = ["Config", "DebtorSystem", "create_app"]
