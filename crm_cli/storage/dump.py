"""SQL for crm dump and crm load: the tables as sorted rows, and a schema-only database to fill.

What a dump holds is read from the database itself (``PRAGMA table_list``), so tables
added by later migrations take part without changes here. Left out:

- virtual tables and their shadow tables (the FTS5 index ``search_fts``): rebuilt on load;
- ``_sqlite_migrations``: the dump records the applied migrations' names instead;
- ``sqlite_sequence``: recorded as the dump's id counters, restored exactly on load;
- ``sqlite_stat*`` (ANALYZE's statistics, if any): the planner's, not data;
- derived columns (``db.DERIVED``: contacts' summaries, ``orgs.name_fold``) and generated
  columns: recomputed on load by the same refreshers that keep them on every commit.
"""

from __future__ import annotations

import base64
import datetime
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from operator import itemgetter
from pathlib import Path

from crm_cli.errors import InvalidInput
from crm_cli.storage import migrations
from crm_cli.storage.db import (
    _REFRESHERS,
    DERIVED,
    PARENT_KEYS,
    SUMMARY_KEYS,
    VERSIONED,
    Db,
    Transaction,
    register_functions,
)

LEFT_OUT_TABLES = {
    migrations.MIGRATIONS_TABLE: "the dump's schema lists the applied migrations",
    "sqlite_sequence": "the dump's sequences are the id counters",
}


def _blob(value):
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$blob": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot dump a {type(value).__name__}")


def encode(row: dict) -> str:
    """One row as a line: sorted keys, UTF-8 kept, no spaces; REALs exact, BLOBs as base64."""
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_blob)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kinds(conn: sqlite3.Connection) -> dict[str, str]:
    """Every object of the main schema that is a table: name -> table, virtual or shadow."""
    return {
        r[1]: r[2]
        for r in conn.execute("PRAGMA main.table_list")
        if r[0] == "main" and r[2] in ("table", "virtual", "shadow")
    }


def tables(db: Db) -> list[str]:
    """The tables a dump holds, by name."""
    return _tables(db.conn)


def _tables(conn: sqlite3.Connection) -> list[str]:
    return sorted(
        name
        for name, kind in _kinds(conn).items()
        if kind == "table" and not name.startswith("sqlite_") and name not in LEFT_OUT_TABLES
    )


def left_out(db: Db) -> dict[str, str]:
    """The tables a dump leaves out and why (for the dump's meta record)."""
    out = {}
    for name, kind in _kinds(db.conn).items():
        if kind == "virtual":
            out[name] = "full-text index: rebuilt on load"
        elif kind == "shadow":
            out[name] = "part of a full-text index: rebuilt on load"
        elif name in LEFT_OUT_TABLES:
            out[name] = LEFT_OUT_TABLES[name]
        elif name.startswith("sqlite_stat"):
            out[name] = "the query planner's statistics"
    return dict(sorted(out.items()))


def insertable_columns(db: Db, table: str) -> list[str]:
    """A table's stored columns in schema order (generated ones left out)."""
    return [r[1] for r in db.conn.execute(f"PRAGMA table_xinfo({_quote(table)})") if r[6] == 0]


def derived_columns(table: str) -> set[str]:
    """The columns of a table that refreshers keep (left out of dumps)."""
    return set(DERIVED.get(table, ()))


def dumped_columns(db: Db, table: str) -> list[str]:
    """The columns a dump holds: the stored ones but the derived."""
    derived = derived_columns(table)
    return [c for c in insertable_columns(db, table) if c not in derived]


def _order_by(conn: sqlite3.Connection, table: str) -> str:
    info = list(conn.execute(f"PRAGMA table_info({_quote(table)})"))
    pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    return ", ".join(_quote(c) for c in (pk or [r[1] for r in info]))


def schema_version(db: Db) -> list[str]:
    """The applied migrations' names, in the order they were applied."""
    return [
        r[0]
        for r in db.conn.execute(
            f"SELECT name FROM {migrations.MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY id",
            (migrations.MIGRATION_SET,),
        )
    ]


def sequences(db: Db, names: Iterable[str]) -> dict[str, int]:
    """The AUTOINCREMENT counters of these tables (those that have one)."""
    wanted = set(names)
    return {
        name: seq
        for name, seq in db.conn.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name")
        if name in wanted
    }


def count(db: Db, table: str) -> int:
    return db.conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]


def rows(db: Db, table: str, columns: list[str]) -> Iterator[str]:
    """A table's rows in primary-key order, each encoded as one line (without newline)."""
    keys = sorted(columns)
    conn = db.conn
    cur = conn.execute(
        f"SELECT {', '.join(_quote(c) for c in keys)} FROM {_quote(table)}"
        f" ORDER BY {_order_by(conn, table)}"
    )
    dumps = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), default=_blob, sort_keys=True
    ).encode
    while batch := cur.fetchmany(2000):
        for r in batch:
            yield dumps(dict(zip(keys, r)))


@contextmanager
def snapshot(db: Db) -> Iterator[None]:
    """One read transaction: every read inside sees the database as of its first read."""
    conn = db.conn
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


# -- loading ---------------------------------------------------------------------------


def create(path: Path, schema: list[str]) -> Db:
    """A new database at path with these migrations applied and no rows at all.

    Made for one bulk load: no journal on disk, no syncs (a failed load deletes the
    file), foreign keys off until ``finish`` checks them.
    """
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB, also the sorter's (CREATE INDEX)
    register_functions(conn)
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    by_name = dict(migrations.MIGRATIONS)
    conn.execute("BEGIN")
    Migrations(migrations.MIGRATION_SET).ensure_migrations_table(
        Database(conn, execute_plugins=False, recursive_triggers=False)
    )
    for name in schema:
        by_name[name](conn)
        conn.execute(
            f"INSERT INTO {migrations.MIGRATIONS_TABLE} (migration_set, name, applied_at)"
            " VALUES (?, ?, ?)",
            (migrations.MIGRATION_SET, name, str(datetime.datetime.now(datetime.UTC))),
        )
    # The schema only: rows an older migration seeded (m002's pipeline) come from the dump.
    for table in _tables(conn):
        conn.execute(f"DELETE FROM {_quote(table)}")
    conn.execute("DELETE FROM sqlite_sequence")
    conn.execute("COMMIT")
    return Db(conn, path)


def begin(db: Db) -> None:
    db.conn.execute("BEGIN")


def drop_indexes(db: Db) -> list[tuple[str, str, str]]:
    """Drop the tables' own indexes and triggers until the rows are in; return their SQL.

    Indexes built after a bulk insert sort once instead of taking rows out of order
    (a third of the load time at a million activities); triggers, if a migration ever
    adds one, must not fire for rows that are restored, not written. (The indexes of
    UNIQUE constraints stay: they are part of their tables.)
    """
    wanted = set(_tables(db.conn))
    found = [
        (kind, name, sql)
        for kind, name, table, sql in db.conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY rowid"
        )
        if table in wanted
    ]
    for kind, name, _ in found:
        db.conn.execute(f"DROP {kind.upper()} {_quote(name)}")
    return found


def create_indexes(db: Db, indexes: list[tuple[str, str, str]]) -> None:
    """Create again what ``drop_indexes`` dropped."""
    for _, _, sql in indexes:
        db.conn.execute(sql)


def insert(db: Db, table: str, columns: list[str], values: Iterable[tuple]) -> None:
    """Insert rows given as tuples in ``columns`` order, ids and all."""
    sql = (
        f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)})"
        f" VALUES ({', '.join('?' * len(columns))})"
    )
    it = iter(values)
    while batch := list(islice(it, 5000)):
        try:
            db.conn.executemany(sql, batch)
        except sqlite3.IntegrityError as e:
            raise InvalidInput(f"the dump's {table} rows break a rule of the schema: {e}") from None
        except (sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as e:
            raise InvalidInput(
                f"the dump's {table} rows hold a value that is not SQL: {e}"
            ) from None


def row_values(columns: list[str]):
    """A function turning one decoded row (a dict) into a tuple in ``columns`` order."""
    get = itemgetter(*columns)
    if len(columns) == 1:
        return lambda row: (get(row),)
    return get


def decode_blobs(row: dict) -> dict:
    """Turn {"$blob": base64} values back into bytes."""
    for k, v in row.items():
        if isinstance(v, dict):
            if set(v) != {"$blob"} or not isinstance(v["$blob"], str):
                raise InvalidInput(f'column {k}: an object that is not a {{"$blob": ...}}')
            row[k] = base64.b64decode(v["$blob"], validate=True)
    return row


def set_sequences(db: Db, counters: dict[str, int]) -> None:
    """Make the AUTOINCREMENT counters exactly these."""
    db.conn.execute("DELETE FROM sqlite_sequence")
    db.conn.executemany(
        "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", sorted(counters.items())
    )


def rebuild_derived(db: Db) -> None:
    """Recompute every derived column and index (summaries, folded names, the FTS index)
    by running each on-commit refresher as if every record had just been inserted."""
    conn = db.conn
    present = set(_tables(conn))
    parents = set(VERSIONED) | set(DERIVED)
    for keys in (*PARENT_KEYS.values(), *SUMMARY_KEYS.values()):
        parents.update(parent for _, parent in keys)
    tx = Transaction(db, 0, "", 0, versioned=False)
    for table in sorted(parents & present):
        ids = {r[0] for r in conn.execute(f"SELECT id FROM {_quote(table)}")}
        tx.touched[table] = ids
        tx.inserted[table] = ids
        tx.touched_parents[table] = ids
        tx.summary_parents[table] = ids
    for fn in _REFRESHERS:
        fn(tx)


def foreign_key_problems(db: Db) -> list[tuple[str, int, str]]:
    """Rows whose foreign keys point at nothing: (table, rowid, parent table)."""
    return [(r[0], r[1], r[2]) for r in db.conn.execute("PRAGMA foreign_key_check")]


def commit(db: Db) -> None:
    db.conn.execute("COMMIT")


def migrate(db: Db) -> list[str]:
    """Apply the migrations newer than the loaded dump's schema."""
    db.conn.execute("PRAGMA foreign_keys = ON")
    return migrations.migrate(db.conn)


def close(db: Db) -> None:
    """Leave the file as open_db would: WAL, foreign keys on; then close it."""
    db.conn.execute("PRAGMA journal_mode = WAL")
    db.conn.close()


def abandon(db: Db | None) -> None:
    if db is not None:
        try:
            db.conn.close()
        except sqlite3.Error:  # pragma: no cover - closing is all that is left
            pass
