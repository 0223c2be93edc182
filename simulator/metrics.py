"""Prometheus metrics, scraped at `GET /metrics` (`Runtime.metrics`).

SOAP calls are counted from the recorded exchanges (a listener of the Recorder, so a call counts once it is
recorded): by service, municipality and outcome (`ok`, `refused` for a business refusal — a
Forretningskvittering AFVIST — or the fault code), with a latency histogram per service. The database writer's
backlog is read at each scrape. The Beskedfordeler reports through three small hooks: `besked_answered`
(StatusKode of each StandardRetur), `dueslag_depth` and `push_failed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUSINESS_REFUSAL = ">AFVIST<"  # the ForretningsValideringsKode of a refused registration


class Metrics:
    """One registry per running simulator."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter(
            "simulator_soap_calls", "SOAP calls recorded", ["service", "municipality", "outcome"], registry=r
        )
        self.latency = Histogram(
            "simulator_soap_call_seconds",
            "Time to answer a SOAP call",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.writer_backlog = Gauge(
            "simulator_writer_backlog", "Items queued for the database writer, by lane", ["lane"], registry=r
        )
        self.writer_ok = Gauge("simulator_writer_ok", "1 while the database writer keeps up, else 0", registry=r)
        self.besked = Counter(
            "simulator_besked_messages", "Beskedfordeler messages answered, by StatusKode", ["statuskode"], registry=r
        )
        self.dueslag = Gauge("simulator_dueslag_depth", "Messages waiting in a dueslag", ["dueslag"], registry=r)
        self.push_failures = Counter(
            "simulator_push_failures", "Failed push deliveries, by dueslag", ["dueslag"], registry=r
        )
        self.before_scrape: list[Callable[[], None]] = []
        self._children: dict[tuple, Any] = {}

    # -- what the core reports ---------------------------------------------------------------------

    def observe_exchange(self, row: dict[str, Any]) -> None:
        """A recorded exchange (a Recorder listener)."""
        service = row.get("service") or ""
        if row.get("status") == "ok":
            outcome = "refused" if BUSINESS_REFUSAL in (row.get("response_body") or "") else "ok"
        else:
            outcome = row.get("fault_code") or "fault"
        key = (service, row.get("municipality") or "", outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (self.calls.labels(*key), self.latency.labels(service))
        child[0].inc()
        child[1].observe((row.get("duration_ms") or 0.0) / 1000)

    # -- hooks for the Beskedfordeler ----------------------------------------------------------------

    def besked_answered(self, statuskode: int) -> None:
        self.besked.labels(str(statuskode)).inc()

    def dueslag_depth(self, dueslag: str, depth: int) -> None:
        self.dueslag.labels(dueslag).set(depth)

    def push_failed(self, dueslag: str) -> None:
        self.push_failures.labels(dueslag).inc()

    # -- the scrape --------------------------------------------------------------------------------

    def scrape(self, writer_health: dict[str, Any]) -> bytes:
        """The text exposition format; `writer_health` is `GroupCommit.health()`."""
        for lane, figures in writer_health.get("lanes", {}).items():
            self.writer_backlog.labels(lane).set(figures["pending"])
        self.writer_ok.set(1 if writer_health.get("ok") else 0)
        for hook in self.before_scrape:
            hook()
        return generate_latest(self.registry)
