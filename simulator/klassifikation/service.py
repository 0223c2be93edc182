"""The running Klassifikation component: the sortiment, its deliverer, and why it is off when it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
