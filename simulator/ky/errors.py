"""The error KY's ledger answers a request it cannot carry out with."""

from __future__ import annotations


class KyError(Exception):
    """A request to the ledger that cannot be carried out (HTTP status and message for the admin API)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
