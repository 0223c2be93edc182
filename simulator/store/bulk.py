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
_SQLITE_MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32


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
        self._values_sql: dict[int, str] = {}  # SQLite: rows in one statement → its SQL

    def __call__(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        pairs = tuple(zip(self.columns, self.defaults, strict=True))
        self.values(conn, [[row.get(name, default) for name, default in pairs] for row in rows])

    def values(self, conn: Connection, params: list[list[Any]]) -> None:
        """Insert rows given as lists of values in `columns` order (changed in place by the bind processors)."""
        if not params:
            return
        sql, processors = self._for(conn)
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
        if conn.dialect.name == "sqlite":
            self._multi_row(conn, sql, params)
        else:
            conn.exec_driver_sql(sql, [tuple(p) for p in params])

    def _multi_row(self, conn: Connection, sql: str, params: list[list[Any]]) -> None:
        """SQLite: the batch as one ``INSERT … VALUES (…), (…), …`` per chunk: sqlite3's executemany steps
        the statement once per row, letting go of the GIL and taking it back each time (in a worker thread
        that means waiting for the event loop to hand it over, once per row)."""
        width = len(self.columns)
        per_chunk = max(1, _SQLITE_MAX_VARIABLES // width)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            for start in range(0, len(params), per_chunk):
                chunk = params[start : start + per_chunk]
                statement = self._values_sql.get(len(chunk))
                if statement is None:
                    one = sql[sql.index(" VALUES ") + 8 :]
                    statement = self._values_sql[len(chunk)] = sql + (", " + one) * (len(chunk) - 1)
                cursor.execute(statement, [v for p in chunk for v in p])
        finally:
            cursor.close()

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


_DRIVER_SQL: dict[tuple[str, str, str], str] = {}


def driver_sql(conn: Connection, sql: str, *tables: Table) -> str:
    """``sql`` written with ``?`` marks and ``{0}``, ``{1}``… for `tables`, in the connection's paramstyle and with
    the tables' quoted names (built once per dialect): for ``conn.exec_driver_sql`` on the hot path, where a Core
    statement's compile-cache lookup costs more than the statement."""
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle, sql + "".join(t.name for t in tables))
    found = _DRIVER_SQL.get(key)
    if found is None:
        prep = dialect.identifier_preparer
        text = sql.format(*(prep.format_table(t) for t in tables))
        parts = text.split("?")
        style = dialect.paramstyle
        if style == "qmark":
            found = text
        elif style == "numeric_dollar":
            found = "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        elif style == "numeric":
            found = "".join(p + (f":{i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        elif style == "format":
            found = "%s".join(p.replace("%", "%%") for p in parts)
        else:
            raise NotImplementedError(f"driver_sql: paramstyle {style}")
        _DRIVER_SQL[key] = found
    return found
