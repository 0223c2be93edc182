"""Klassifikation: KY's debtor sortiment, read SF1510-style and delivered to debtor systems (item 3).

- read services ``/service/Klassifikation/<Klasse|Facet|Klassifikation>/5`` (``laes``, ``list``, ``soeg``),
  routed to ``builtin:klassifikation``;
- delivery of the sortiment to each subscriber through the platform (``SortimentModtag``, our stand-in
  for SF7002), with receipts, retries and per-subscriber acknowledged version;
- admin API ``/api/klassifikation/...`` and the ``simulator klassifikation`` CLI to edit the sortiment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from simulator.capabilities import SortimentDelivery
from simulator.klassifikation import contract  # noqa: F401 - registers the contracts
from simulator.klassifikation.api import router
from simulator.klassifikation.delivery import Deliverer, SubscriptionError
from simulator.klassifikation.reads import make_handler
from simulator.klassifikation.service import Klassifikation
from simulator.klassifikation.sortiment import SortimentError
from simulator.klassifikation.state import KlassifikationSettings, SortimentState

if TYPE_CHECKING:
    from simulator.runtime import Runtime

log = logging.getLogger(__name__)

HANDLER = "klassifikation"


class KlassifikationComponent:
    name = "klassifikation"
    admin_router = router
    public_router = None
    provides = (Klassifikation, SortimentDelivery)
    needs = ()
    wants = ()

    def _provide(self, rt: Runtime, k: Klassifikation) -> None:
        rt.provide(Klassifikation, k)
        rt.provide(SortimentDelivery, k)

    async def start(self, rt: Runtime) -> None:
        settings = KlassifikationSettings()
        directory = rt.settings.messages_dir / "sortiments" / settings.sortiment
        state = SortimentState(rt.db, directory)
        try:
            await state.load()
        except (SortimentError, OSError) as e:
            log.error("Klassifikation is disabled: %s", e)
            self._provide(rt, Klassifikation(settings, None, None, f"sortiment {directory}: {e}"))
            return
        deliverer = Deliverer(rt, state, settings)
        try:
            await deliverer.load(rt.settings.routes_dir / settings.subscriptions_file)
        except SubscriptionError as e:
            log.error("sortiment subscriptions not loaded: %s", e)
            self._provide(rt, Klassifikation(settings, state, deliverer, f"subscriptions: {e}"))
        else:
            self._provide(rt, Klassifikation(settings, state, deliverer))
        state.on_new_version.append(lambda _v: deliverer.wake())
        rt.handlers[HANDLER] = make_handler(state)
        deliverer.start()

    async def stop(self, rt: Runtime) -> None:
        k = rt.find(Klassifikation)
        rt.withdraw(Klassifikation)
        rt.withdraw(SortimentDelivery)
        if k is not None and k.deliverer is not None:
            await k.deliverer.stop()

    async def health(self, rt: Runtime) -> dict[str, Any]:
        k = rt.find(Klassifikation)
        if k is None or k.state is None:
            return {"ok": True, "enabled": False, "reason": k.disabled_reason if k else "not started"}
        current = k.state.current.version
        subs = list(k.deliverer.subscriptions.values()) if k.deliverer else []
        return {
            "ok": True,
            "enabled": True,
            "sortiment_version": current,
            "subscribers": len(subs),
            "up_to_date": sum(1 for s in subs if (s.acknowledged_version or 0) >= current),
            "failing": sum(1 for s in subs if s.failures),
            "problem": k.disabled_reason,
        }


component = KlassifikationComponent()
