"""What the components offer each other: one small Protocol per capability.

A component declares the capabilities it `provides`, those it `needs` (it cannot run without them) and
those it `wants` (used when some loaded component provides them). The runtime (`simulator.runtime`) wires
them by type — `rt.get(Capability)` / `rt.find(Capability)` — and starts every provider before the
components that use it, whatever order `SIMULATOR_COMPONENTS` lists them in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class StatusChangeSink(Protocol):
    """Takes the debtor systems' Beskedfordeler messages into KY's books (provided by `ky`)."""

    async def record_status_change(
        self, municipality: str, account_uuid: str, status: str, at: datetime, besked_id: str
    ) -> bool: ...

    async def record_fordring_til_indbetaling(
        self,
        municipality: str,
        fordring_uuid: str,
        authorities: list[str],
        period_from: date | None,
        period_to: date | None,
        besked_id: str,
    ) -> bool: ...


@runtime_checkable
class KyActions(Protocol):
    """KY acting towards the debtor systems, and its ledger read back (provided by `ky`; scenarios and the
    readiness check drive it)."""

    async def create_account(self, spec: dict[str, Any], *, send: bool = True) -> dict[str, Any]: ...

    async def pay(self, claim_uuid: str, amount: str, **kw: Any) -> dict[str, Any]: ...

    async def change_claim_state(self, claim_uuid: str, state: str, **kw: Any) -> dict[str, Any]: ...

    async def end_liability(self, liability_uuid: str, valid_to: date | None = None, **kw: Any) -> dict[str, Any]: ...

    async def search_accounts(self, municipality: str, **kw: Any) -> dict[str, Any]: ...

    async def read_remote_account(self, account_uuid: str, municipality: str | None = None) -> dict[str, Any]: ...

    async def open_subclaims(self, municipality: str, **kw: Any) -> dict[str, Any]: ...

    async def account(self, account_uuid: str) -> dict[str, Any]: ...

    async def accounts(self, **kw: Any) -> list[dict[str, Any]]: ...

    async def postings(self, **kw: Any) -> list[dict[str, Any]]: ...

    async def status_changes(self, **kw: Any) -> list[dict[str, Any]]: ...

    async def fordringer_til_indbetaling(self, **kw: Any) -> list[dict[str, Any]]: ...


@runtime_checkable
class BeskedTypes(Protocol):
    """The message catalogue's beskedtyper (provided by `beskedfordeler`)."""

    beskedtyper: Mapping[str, Any]

    def beskedtype_uuid(self, name_or_uuid: str) -> str | None: ...


@runtime_checkable
class BeskedReceivers(Protocol):
    """Receivers inside the simulator subscribe to the Beskedfordeler like any push receiver (provided by
    `beskedfordeler`): a push dueslag whose `callback` is `builtin:<name>` is delivered to the receiver registered
    under that name, which takes a ModtagBeskedInput body and answers (StatusKode, FejlbeskedTekst). Until one
    registers, the dueslag's messages wait in its queue."""

    async def register(self, callback: str, receiver: Callable[[bytes], Awaitable[tuple[int, str]]]) -> None: ...

    async def unregister(self, callback: str) -> None: ...


@runtime_checkable
class BeskedSenderCheck(Protocol):
    """Which system a Beskedfordeler request acts as, proven by its credentials (provided by `security` when a
    security model is on; the Beskedfordeler uses it when present). Takes the Beskedfordeler's `Credentials`,
    returns its `Proven` or raises its `BeskedRefusal`."""

    async def __call__(self, creds: Any) -> Any: ...


@dataclass(frozen=True)
class ClaimType:
    """A Klasse of the Fordringstype Facet of KY's debtor sortiment."""

    uuid: str
    brugervendt_noegle: str
    titel: str


@dataclass(frozen=True)
class ClaimTypes:
    """The claim types KY may use for a municipality: those in effect in the sortiment version its debtor
    system acknowledged (the newest otherwise)."""

    version: int
    basis: str  # why this version, e.g. "acknowledged by 11111111:opus"
    types: tuple[ClaimType, ...] = field(default_factory=tuple)

    def find(self, ref: str) -> ClaimType | None:
        """A claim type by its UUID or BrugervendtNoegle."""
        return next((t for t in self.types if ref in (t.uuid, t.brugervendt_noegle)), None)

    def describe(self, limit: int = 6) -> str:
        shown = ", ".join(f"{t.brugervendt_noegle} ({t.uuid})" for t in self.types[:limit])
        more = f" and {len(self.types) - limit} more" if len(self.types) > limit else ""
        return f"{shown}{more}"


@runtime_checkable
class SortimentDelivery(Protocol):
    """KY's debtor sortiment and its delivery to each subscriber (provided by `klassifikation`)."""

    @property
    def disabled_reason(self) -> str | None: ...

    def current_version(self) -> int | None: ...

    def subscription(self, subscription_id: str) -> Any | None: ...

    def wake(self, subscription_id: str | None = None) -> None: ...

    async def deliveries(self, *, subscription: str, limit: int) -> list[dict[str, Any]]: ...

    def claim_types(self, municipality: str) -> ClaimTypes | None: ...

    async def reload_subscriptions(self) -> list[str]: ...
