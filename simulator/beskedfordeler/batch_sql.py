"""The store's hot-path statements, each run inside one transaction (`Database.transaction`: one worker-thread
hop on SQLite): storing a batch of accepted messages with a delivery row per copy, and marking copies queued."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from simulator.beskedfordeler.answers import Retur
from simulator.beskedfordeler.models import BfBesked, BfLevering
from simulator.store.bulk import BulkInsert

if TYPE_CHECKING:
    from simulator.beskedfordeler.accept import Prepared

BESKED_COLUMNS = (
    "besked_id",
    "received_at",
    "channel",
    "system",
    "municipality",
    "beskedtype",
    "transaktions_id",
    "sha256",
    "body",
)
LEVERING_COLUMNS = ("besked_id", "dueslag", "abonnement", "state", "tilladte_modtagere", "attempts", "updated_at")
_insert_beskeder = BulkInsert(BfBesked.__table__, BESKED_COLUMNS)
_insert_leveringer = BulkInsert(BfLevering.__table__, LEVERING_COLUMNS)


def repeat_or_clash(besked_id: str, stored_sha256: str, sha256: str) -> Retur:
    """The answer to a message whose BeskedId is stored already: a repeat of the same message is answered
    20 again (and sent once); another message under a used BeskedId is refused 40."""
    if stored_sha256 == sha256:
        return Retur(20, besked_id=besked_id)
    return Retur(
        40,
        "BESKEDID_GENBRUGT",
        f"BeskedId {besked_id} was already used for another message; every message needs a new BeskedId",
        besked_id,
    )


def persist_batch(conn, *, batch: list[Prepared], now: datetime) -> list[tuple[Prepared, Retur, bool]]:
    """Store the messages of a batch and a pending delivery row per copy: (message, its answer, stored now).
    A BeskedId stored before is a repeat (or a reused id) and stores nothing."""
    ids = list({p.besked.besked_id for p in batch})
    raw = conn.dialect.name == "sqlite"
    if raw:  # see _insert_raw
        known = dict(
            conn.exec_driver_sql(
                f"SELECT besked_id, sha256 FROM bf_besked WHERE besked_id IN ({', '.join('?' * len(ids))})",
                tuple(ids),
            ).all()
        )
    else:
        known = dict(conn.execute(select(BfBesked.besked_id, BfBesked.sha256).where(BfBesked.besked_id.in_(ids))).all())
    results: list[tuple[Prepared, Retur, bool]] = []
    besked_rows: list[list] = []  # in BESKED_COLUMNS order
    levering_rows: list[list] = []  # in LEVERING_COLUMNS order
    for p in batch:
        bid = p.besked.besked_id
        if bid in known:
            results.append((p, repeat_or_clash(bid, known[bid], p.sha256), False))
            continue
        known[bid] = p.sha256
        besked_rows.append(
            [
                bid,
                now,
                p.channel,
                p.system,
                p.municipality,
                p.besked.beskedtype,
                p.transaktions_id,
                p.sha256,
                p.body.decode("utf-8"),
            ]
        )
        levering_rows += [[bid, d, abonnement, "pending", trimmed, 0, now] for d, abonnement, trimmed in p.copies]
        results.append((p, Retur(20, besked_id=bid), True))
    if raw:  # one multi-row INSERT per table (store/bulk.py)
        _insert_beskeder.values(conn, besked_rows)
        _insert_leveringer.values(conn, levering_rows)
        return results
    lost = _insert_new_beskeder(conn, besked_rows)
    if lost:  # another process stored these BeskedIds a moment ago: each is a repeat (or a reused id) here
        besked_t = BfBesked.__table__
        theirs = dict(
            conn.execute(select(besked_t.c.besked_id, besked_t.c.sha256).where(besked_t.c.besked_id.in_(lost))).all()
        )
        results = [
            (p, repeat_or_clash(p.besked.besked_id, theirs[p.besked.besked_id], p.sha256), False)
            if p.besked.besked_id in lost
            else (p, r, new)
            for p, r, new in results
        ]
        levering_rows = [row for row in levering_rows if row[0] not in lost]
    if levering_rows:
        conn.execute(
            insert(BfLevering.__table__), [dict(zip(LEVERING_COLUMNS, row, strict=True)) for row in levering_rows]
        )
    return results


def _insert_new_beskeder(conn, rows: list[tuple]) -> set[str]:
    """INSERT the messages (PostgreSQL) with ON CONFLICT DO NOTHING, in BeskedId order (two processes
    inserting overlapping batches then wait for each other instead of deadlocking); returns the BeskedIds
    another process had stored, which were not inserted."""
    if not rows:
        return set()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    table = BfBesked.__table__
    rows = sorted(rows, key=lambda row: row[0])
    inserted = set(
        conn.scalars(
            pg_insert(table)
            .values([dict(zip(BESKED_COLUMNS, row, strict=True)) for row in rows])
            .on_conflict_do_nothing(index_elements=["besked_id"])
            .returning(table.c.besked_id)
        ).all()
    )
    return {row[0] for row in rows} - inserted


def mark_queued_statements(keys: list[tuple[str, str]]) -> list:
    """UPDATEs that mark the copies (BeskedId, dueslag) queued, if still pending."""
    lev_t = BfLevering.__table__
    by_dueslag: dict[str, list[str]] = defaultdict(list)
    for bid, dueslag in keys:
        by_dueslag[dueslag].append(bid)
    now = datetime.now(UTC)
    return [
        update(lev_t)
        .where(lev_t.c.dueslag == dueslag, lev_t.c.besked_id.in_(ids[i : i + 500]), lev_t.c.state == "pending")
        .values(state="queued", updated_at=now)
        for dueslag, ids in by_dueslag.items()
        for i in range(0, len(ids), 500)
    ]


def mark_queued(conn, *, keys: list[tuple[str, str]]) -> None:
    if conn.dialect.name == "sqlite":  # one UPDATE per dueslag: BeskedId IN (…) over the (besked_id, dueslag) index
        stamp = BfLevering.__table__.c.updated_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        now = stamp(datetime.now(UTC))
        by_dueslag: dict[str, list[str]] = defaultdict(list)
        for bid, dueslag in keys:
            by_dueslag[dueslag].append(bid)
        for dueslag, ids in by_dueslag.items():
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                conn.exec_driver_sql(
                    "UPDATE bf_levering SET state = 'queued', updated_at = ? WHERE dueslag = ? AND state = 'pending' "
                    f"AND besked_id IN ({', '.join('?' * len(chunk))})",
                    (now, dueslag, *chunk),
                )
        return
    for stmt in mark_queued_statements(keys):
        conn.execute(stmt)
