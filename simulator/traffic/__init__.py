"""Recorded traffic: the batched recorder on the request path's side, and the store every reader uses."""

from simulator.traffic.query import ExchangeFilter
from simulator.traffic.recorder import Recorder, truncate_body
from simulator.traffic.store import ExchangeStore

__all__ = ["ExchangeFilter", "ExchangeStore", "Recorder", "truncate_body"]
