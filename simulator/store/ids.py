"""Ids for rows written on every call."""

from __future__ import annotations

import os
import time
import uuid


def exchange_id() -> str:
    """A new exchange id: a UUID (version 7, RFC 9562) whose first 48 bits are the Unix time in milliseconds,
    the rest random. Ids made later sort after earlier ones, so the journal's unique index on `id` grows at its
    end, as `seq` does: a batch of calls dirties one index page, not one per call (random version-4 ids put each
    new key on its own page, and every such page is written to the WAL again at each commit)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits: 12 for rand_a, 62 for rand_b (+6 unused)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | rand & (1 << 62) - 1
    return str(uuid.UUID(int=value))
