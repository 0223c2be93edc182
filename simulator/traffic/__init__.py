"""Recorded traffic: the batched recorder on the request path's side, and queries for the admin API."""

from simulator.traffic.recorder import Recorder, truncate_body

__all__ = ["Recorder", "truncate_body"]
