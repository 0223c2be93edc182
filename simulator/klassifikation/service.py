"""The running Klassifikation component: the sortiment, its deliverer, and why it is off when it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.capabilities import ClaimType, ClaimTypes
from simulator.klassifikation.delivery import Deliverer, Subscription
from simulator.klassifikation.state import KlassifikationSettings, SortimentState


@dataclass
class Klassifikation:
    """The running component: the sortiment, its deliverer, and why it is off when it is (provides
    SortimentDelivery to the readiness check)."""

    settings: KlassifikationSettings
    state: SortimentState | None
    deliverer: Deliverer | None
    disabled_reason: str | None = None

    def current_version(self) -> int | None:
        return self.state.current.version if self.state is not None else None

    def subscription(self, subscription_id: str) -> Subscription | None:
        return self.deliverer.subscriptions.get(subscription_id) if self.deliverer is not None else None

    def wake(self, subscription_id: str | None = None) -> None:
        if self.deliverer is not None:
            self.deliverer.wake(subscription_id)

    async def deliveries(self, *, subscription: str, limit: int) -> list[dict[str, Any]]:
        if self.deliverer is None:
            return []
        return await self.deliverer.deliveries(subscription=subscription, limit=limit)

    async def reload_subscriptions(self) -> list[str]:
        """Start the subscriptions added to the routes folder's subscription file since start."""
        if self.deliverer is None:
            return []
        return await self.deliverer.add_from_file(
            self.deliverer.rt.settings.routes_dir / self.settings.subscriptions_file
        )

    def claim_types(self, municipality: str) -> ClaimTypes | None:
        """The claim types in effect in the sortiment version the municipality's debtor system acknowledged
        (the newest when it has acknowledged none); None while the sortiment is off."""
        if self.state is None:
            return None
        subs = (
            []
            if self.deliverer is None
            else [s for s in self.deliverer.subscriptions.values() if s.municipality == municipality]
        )
        acked = max((s.acknowledged_version or 0 for s in subs), default=0)
        if acked:
            version = self.state.version(acked)
            basis = "acknowledged by " + ", ".join(s.id for s in subs if s.acknowledged_version == acked)
        else:
            version = self.state.current
            basis = "the newest (not acknowledged by the municipality's debtor system yet)"
        types = tuple(
            ClaimType(k.uuid, k.brugervendt_noegle, k.titel) for k in version.fordringstyper(datetime.now(UTC))
        )
        return ClaimTypes(version.version, basis, types)
