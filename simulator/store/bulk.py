"""Hot-path inserts as one driver-level executemany (a prepared statement on PostgreSQL, sqlite3's own loop on
SQLite), for the rows written on every call (exchanges, postings). SQLAlchemy stays for the schema, migrations
and queries; here each value still goes through its column type's bind processor, as with a Core insert, but
without the per-row statement machinery running in Python (in a worker thread, while the event loop waits
for the GIL)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table

_MISSING = object()


class BulkInsert:
    """``INSERT INTO table (columns…)`` for many rows at once: ``BulkInsert(table)(conn, rows)`` with rows as
    mappings (a missing key takes the column's scalar default, else NULL). Built once, used on every batch."""

    def __init__(self, table: Table, columns: Iterable[str] | None = None) -> None:
        self.table = table
        self.columns = tuple(columns or (c.name for c in table.columns if c.autoincrement is not True))
        defaults = []
        for name in self.columns:
            d = table.c[name].default
            defaults.append(d.arg if d is not None and d.is_scalar else None)
        self.defaults = tuple(defaults)
        self._prepared: dict[str, tuple[str, list[tuple[int, Any]]]] = {}

    def __call__(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        sql, processors = self._for(conn)
        pairs = tuple(zip(self.columns, self.defaults, strict=True))
        params = [[row.get(name, default) for name, default in pairs] for row in rows]
        if not params:
            return
        if processors:
            for i, proc in processors:
                cache: dict[Any, Any] = {}
                for p in params:
                    v = p[i]
                    if v is None or isinstance(v, datetime):  # shared by a batch: processed once
                        hit = cache.get(v, _MISSING)
                        if hit is _MISSING:
                            hit = cache[v] = proc(v)
                        p[i] = hit
                    else:
                        p[i] = proc(v)
        conn.exec_driver_sql(sql, [tuple(p) for p in params])

    def _for(self, conn: Connection) -> tuple[str, list[tuple[int, Any]]]:
        dialect = conn.dialect
        key = f"{dialect.name}:{dialect.paramstyle}"
        found = self._prepared.get(key)
        if found is None:
            style = dialect.paramstyle
            n = len(self.columns)
            if style == "qmark":
                marks = ["?"] * n
            elif style in ("numeric_dollar",):
                marks = [f"${i + 1}" for i in range(n)]
            elif style == "numeric":
                marks = [f":{i + 1}" for i in range(n)]
            elif style == "format":
                marks = ["%s"] * n
            else:
                raise NotImplementedError(f"BulkInsert: paramstyle {style}")
            prep = dialect.identifier_preparer
            table = prep.format_table(self.table)
            cols = ", ".join(prep.quote(c) for c in self.columns)
            sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(marks)})"
            processors = []
            for i, name in enumerate(self.columns):
                proc = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                if proc is not None:
                    processors.append((i, proc))
            found = self._prepared[key] = (sql, processors)
        return found
