"""A reference debtor system for the simulator's SF1590 reference contract: start with README.md here."""

from examples.reference_debtor.app import create_app
from examples.reference_debtor.config import Config
from examples.reference_debtor.system import DebtorSystem

__all__ = ["Config", "DebtorSystem", "create_app"]
