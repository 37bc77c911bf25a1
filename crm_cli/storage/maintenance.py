"""SQL and file mechanics of ``crm db``: backup, restore, check and stats.

Maintenance looks at a database file as it is, so it opens its own connections and
never runs migrations (a check must see pending ones; a restore must not change the
backup it reads).

- **Copies** use SQLite's online backup API in one step: the copy is read inside one
  read transaction, so in WAL mode writers go on committing while it runs and never
  restart it (a copy in several steps restarts whenever another connection commits
  between two steps, and under a steady writer never finishes; measured in bench/db.py).
- **Restore** copies the backup *into* the live database through the same API, so
  every connection other processes hold sees the restored content at once, as one
  commit: no file is renamed under anyone's feet and a failure leaves nothing
  half-restored. The write lock is held from the first step to the commit, and the
  caller's ``under_lock`` runs in between: it decides whether to go on and keeps a
  copy of what is replaced, knowing that nobody can commit meanwhile.
- **Check** reads one snapshot: integrity and foreign keys, derived data (the search
  index, per-contact summaries, folded names) against a fresh computation made by the
  storage's own refreshers into TEMP tables that shadow the real ones, and the change
  log against the rows it describes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from crm_cli.errors import Busy, InvalidInput
from crm_cli.storage.db import BUSY_TIMEOUT_MS, DERIVED, Db, register_functions
from crm_cli.storage.migrations import MIGRATION_SET, MIGRATIONS, MIGRATIONS_TABLE

# Tables legitimately outside the change log, and why. Virtual tables (the search
# index) and their shadow tables, and sqlite_stat*, are found from the schema.
OUTSIDE_LOG: dict[str, str] = {
    MIGRATIONS_TABLE: "migration records (sqlite-utils)",
    "sqlite_sequence": "SQLite's id counters",
    "change_sets": "the change log itself",
    "changes": "the change log itself",
    "imports": "import bookkeeping, written directly so a killed import stays visible",
}

# Rows migration m002 inserted without a change-log record: the default 'sales' pipeline
# and its four stages. m012 gives them their record (or leaves their creation to the first
# write); on a database still without it they are reported in a category of their own,
# log.unlogged_seed.
SEED_ROWS: dict[str, set[int]] = {"pipelines": {1}, "stages": {1, 2, 3, 4}}

_VTAB_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")


# -- connections --------------------------------------------------------------------


def _uri(path: Path, mode: str) -> str:
    query = {"rw": "mode=rw", "ro": "mode=ro", "immutable": "mode=ro&immutable=1"}[mode]
    return f"{path.absolute().as_uri()}?{query}"


def connect(path: Path, mode: str = "rw") -> sqlite3.Connection:
    """Open an existing database file without migrating it.

    mode: ``rw`` (sees others' commits, may take the write lock), ``ro`` (reads
    only; TEMP tables still work), ``immutable`` (a file nobody writes: no -wal or
    -shm is read or created).
    """
    try:
        conn = sqlite3.connect(
            _uri(path, mode), uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as e:
        raise InvalidInput(f"cannot open database {path}: {e}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        register_functions(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        if _locked(e):
            raise Busy(f"database {path} is locked by another writer") from None
        raise InvalidInput(f"cannot open database {path}: {e}") from None
    return conn


def connect_copy(path: Path) -> sqlite3.Connection:
    """Open a backup file for reading: immutable unless something left a -wal beside it
    (then its last commits live there, and a normal connection reads them)."""
    wal = path.with_name(path.name + "-wal")
    return connect(path, "rw" if wal.exists() else "immutable")


def _locked(e: sqlite3.Error) -> bool:
    msg = str(e)
    return "locked" in msg or "busy" in msg


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- what a database is ----------------------------------------------------------------


def tables(conn: sqlite3.Connection) -> list[str]:
    """Ordinary and virtual tables, by name."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
    ]


def virtual_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            " ORDER BY name"
        ).fetchall()
    ]


def shadow_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Each virtual table's shadow tables (FTS5's _data, _idx, _content, ...)."""
    names = set(tables(conn))
    return {v: [v + s for s in _VTAB_SHADOWS if v + s in names] for v in virtual_tables(conn)}


def applied_migrations(conn: sqlite3.Connection) -> list[str] | None:
    """Names of the crm migrations applied, in order; None if the table is missing."""
    if MIGRATIONS_TABLE not in tables(conn):
        return None
    return [
        r[0]
        for r in conn.execute(
            f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY id",
            (MIGRATION_SET,),
        )
    ]


def known_migrations() -> list[str]:
    return [name for name, _ in MIGRATIONS]


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """PRAGMA quick_check's complaints (empty when the file is sound)."""
    rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    return [] if rows == ["ok"] else rows


def last_change(conn: sqlite3.Connection) -> dict | None:
    """The newest change set: id, when, who, label (None if there is none)."""
    if "change_sets" not in tables(conn):
        return None
    cur = conn.execute(
        "SELECT s.id AS set_id, coalesce(s.finished_at, s.created_at) AS at, u.name AS actor,"
        " s.label, s.status FROM change_sets s LEFT JOIN users u ON u.id = s.actor_id"
        " ORDER BY s.id DESC LIMIT 1"
    )
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row))


def describe(conn: sqlite3.Connection, *, check: bool = True) -> dict[str, Any]:
    """What a database file holds, for deciding whether to trust it: quick_check's
    complaints (or the error reading it), the crm migrations applied (None: not a crm
    database), the last change set."""
    try:
        problems = quick_check(conn) if check else []
        if problems:
            return {"problems": problems, "migrations": None, "last_change": None}
        names = set(tables(conn))
        applied = applied_migrations(conn) if {"contacts", "change_sets"} <= names else None
        return {"problems": [], "migrations": applied, "last_change": last_change(conn)}
    except sqlite3.DatabaseError as e:
        return {"problems": [str(e)], "migrations": None, "last_change": None}


def row_counts(conn: sqlite3.Connection, names: list[str]) -> dict[str, int]:
    return {n: conn.execute(f"SELECT count(*) FROM {_q(n)}").fetchone()[0] for n in names}


def pragmas(conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        k: conn.execute(f"PRAGMA {k}").fetchone()[0]
        for k in ("page_size", "page_count", "freelist_count", "journal_mode")
    }


# -- files -------------------------------------------------------------------------


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def remove_with_sidecars(path: Path) -> None:
    """Delete a database file and any -wal, -shm or -journal left beside it."""
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def install(tmp: Path, final: Path) -> None:
    """Give a finished, synced temp file its final name, never replacing an existing file."""
    fsync_file(tmp)
    try:
        os.link(tmp, final)  # fails if final exists: no window where it is overwritten
    except FileExistsError:
        raise InvalidInput(f"{final} already exists; not overwriting it") from None
    except OSError:  # a file system without hard links
        if final.exists():
            raise InvalidInput(f"{final} already exists; not overwriting it") from None
        os.replace(tmp, final)
    else:
        tmp.unlink()
    fsync_dir(final.parent)


def copy_database(source: sqlite3.Connection, dest: Path) -> None:
    """Copy a consistent snapshot of ``source`` into a new file, in one backup step.

    One step is one read transaction: other connections keep committing (WAL) and the
    copy is the database as of its start.
    """
    target = sqlite3.connect(dest, isolation_level=None)
    try:
        source.backup(target)
    except sqlite3.OperationalError as e:
        if _locked(e):
            raise Busy("the database stayed locked while copying it") from None
        raise
    finally:
        target.close()
    # the backup leaves the copy in the source's journal mode; nothing else is beside it
    for s in ("-wal", "-shm", "-journal"):
        p = dest.with_name(dest.name + s)
        if p.exists() and p.stat().st_size == 0:
            p.unlink()


# -- restore -----------------------------------------------------------------------


def restore_into(source: Path, live: Path, under_lock: Callable[[], None]) -> None:
    """Copy the backup ``source`` into the ``live`` database as one transaction.

    The backup API holds the live database's write lock from its first step to the
    commit in its last. The copy runs in two steps; ``under_lock`` runs between them
    (the lock held, most pages copied but nothing committed): raising there rolls the
    whole restore back.
    """
    src = connect_copy(source)
    dest = connect(live, "rw")
    try:
        mode = dest.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            mode = dest.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        src_size = src.execute("PRAGMA page_size").fetchone()[0]
        dest_size = dest.execute("PRAGMA page_size").fetchone()[0]
        if mode == "wal" and src_size != dest_size:
            raise InvalidInput(
                f"the backup's page size ({src_size}) differs from the database's ({dest_size}):"
                " restore it to a new path (--db NEW) instead"
            )
        pages = src.execute("PRAGMA page_count").fetchone()[0]
        state = {"first": True}

        def progress(status: int, remaining: int, total: int) -> None:
            if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise Busy(
                    f"database is locked by another writer (waited {BUSY_TIMEOUT_MS // 1000}s)"
                )
            if state["first"]:
                state["first"] = False
                under_lock()

        try:
            src.backup(dest, pages=max(1, pages - 1), progress=progress, sleep=0.05)
        except sqlite3.OperationalError as e:
            if _locked(e):
                raise Busy("database is locked by another writer") from None
            raise
        if state["first"]:  # pragma: no cover - the first step never copies everything
            raise RuntimeError("restore finished without its check under the lock")
    finally:
        src.close()
        dest.close()


def migrate_file(path: Path) -> list[str]:
    """Apply pending migrations to a database file (after a restore); return their names."""
    from crm_cli.storage.migrations import migrate

    conn = connect(path, "rw")
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        return migrate(conn)
    finally:
        conn.close()


# -- check -------------------------------------------------------------------------

Finding = tuple[str, str | None, int | None, str]  # check, table, row_id, detail


def integrity(conn: sqlite3.Connection, quick: bool = False) -> Iterator[Finding]:
    pragma = "quick_check" if quick else "integrity_check"
    for (msg,) in conn.execute(f"PRAGMA {pragma}"):
        if msg != "ok":
            yield ("integrity", None, None, msg)


def foreign_keys(conn: sqlite3.Connection) -> Iterator[Finding]:
    fks: dict[tuple[str, int], tuple[str, str]] = {}
    for table, rowid, parent, fkid in conn.execute("PRAGMA foreign_key_check"):
        key = (table, fkid)
        if key not in fks:
            rows = conn.execute(f"PRAGMA foreign_key_list({_q(table)})").fetchall()
            fks.update({(table, r[0]): (r[3], r[4] or "id") for r in rows})
        col, pcol = fks.get(key, ("?", "?"))
        value = None
        if col != "?":
            value = conn.execute(
                f"SELECT {_q(col)} FROM {_q(table)} WHERE rowid = ?", (rowid,)
            ).fetchone()
        shown = value[0] if value else "?"
        yield (
            "foreign_key",
            table,
            rowid,
            f"{col} = {shown} points at no {parent} row ({parent}.{pcol})",
        )


def fts_integrity(conn: sqlite3.Connection, skipped: list[str]) -> Iterator[Finding]:
    """FTS5's own 'integrity-check' of each full-text index (its index against its
    content). It is an INSERT command, so it runs under the write lock, rolled back; when
    a writer keeps the lock past the busy timeout it is skipped (and said so)."""
    for vt in virtual_tables(conn):
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (vt,)).fetchone()[0]
        if "fts5" not in sql.lower():
            continue
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _locked(e):
                skipped.append(f"{vt}'s own integrity-check (another writer held the lock)")
                continue
            raise
        try:
            conn.execute(f"INSERT INTO {_q(vt)} ({_q(vt)}) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as e:
            yield ("fts.integrity", vt, None, f"FTS5 integrity-check failed: {e}")
        finally:
            conn.execute("ROLLBACK")


def _fts_columns(conn: sqlite3.Connection, vt: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({_q(vt)})")]


def search_index(conn: sqlite3.Connection, path: Path) -> Iterator[Finding]:
    """The search index against a fresh one: storage.search.reindex writes every contact's
    and organization's document into a TEMP table shadowing ``search_fts``; then rows
    missing, stray or different are findings."""
    from crm_cli.storage import search

    cols = _fts_columns(conn, "search_fts")
    conn.execute(
        f"CREATE TEMP TABLE search_fts (id INTEGER PRIMARY KEY, {', '.join(map(_q, cols))})"
    )
    try:
        db = Db(conn, path)
        contacts = [r[0] for r in conn.execute("SELECT id FROM main.contacts")]
        orgs = [r[0] for r in conn.execute("SELECT id FROM main.orgs")]
        search.reindex(db, contacts, orgs)
        kinds = {"contact": "contacts", "org": "orgs"}
        for rowid, kind, ref_id in conn.execute(
            "SELECT f.id, f.kind, f.ref_id FROM temp.search_fts f"
            " WHERE NOT EXISTS (SELECT 1 FROM main.search_fts m WHERE m.rowid = f.id)"
            " ORDER BY f.id"
        ):
            yield ("fts.missing", kinds.get(kind, kind), ref_id, f"no search index row {rowid}")
        for rowid, kind, ref_id in conn.execute(
            "SELECT m.rowid, m.kind, m.ref_id FROM main.search_fts m"
            " WHERE NOT EXISTS (SELECT 1 FROM temp.search_fts f WHERE f.id = m.rowid)"
            " ORDER BY m.rowid"
        ):
            yield (
                "fts.stray",
                "search_fts",
                rowid,
                f"index row for {kind} {ref_id}, which does not exist",
            )
        differs = " || ".join(
            f"CASE WHEN f.{_q(c)} IS NOT m.{_q(c)} THEN '{c} ' ELSE '' END" for c in cols
        )
        for rowid, kind, ref_id, which in conn.execute(
            f"SELECT f.id, f.kind, f.ref_id, {differs} AS d FROM temp.search_fts f"
            " JOIN main.search_fts m ON m.rowid = f.id WHERE d != '' ORDER BY f.id"
        ):
            yield (
                "fts.stale",
                kinds.get(kind, kind),
                ref_id,
                f"search index row {rowid} differs from a fresh one in: {which.strip()}",
            )
    finally:
        conn.execute("DROP TABLE temp.search_fts")


def _refresh_contacts(db: Db) -> None:
    from crm_cli.storage import summaries

    summaries.refresh_all(db)


def _refresh_orgs(db: Db) -> None:
    from crm_cli.storage import summaries

    ids = [r[0] for r in db.conn.execute("SELECT id FROM temp.orgs")]
    summaries.refresh_org_folds(db, ids)


# The storage function that recomputes each table's DERIVED columns from scratch.
REFRESH_ALL: dict[str, Callable[[Db], None]] = {
    "contacts": _refresh_contacts,
    "orgs": _refresh_orgs,
}


def derived(conn: sqlite3.Connection, path: Path, skipped: list[str]) -> Iterator[Finding]:
    """Derived columns against a fresh computation by storage's own refresher, run on a
    TEMP copy of the table that shadows it (so nothing real is written)."""
    import crm_cli.storage  # noqa: F401  (registers DERIVED)

    db = Db(conn, path)
    for table, cols in sorted(DERIVED.items()):
        refresh = REFRESH_ALL.get(table)
        if refresh is None:
            skipped.append(f"derived columns of {table} (no refresher known to the check)")
            continue
        conn.execute(f"CREATE TEMP TABLE {_q(table)} AS SELECT * FROM main.{_q(table)}")
        try:
            refresh(db)
            differs = " || ".join(
                f"CASE WHEN f.{_q(c)} IS NOT m.{_q(c)} THEN '{c} ' ELSE '' END" for c in cols
            )
            for row_id, which in conn.execute(
                f"SELECT m.id, {differs} AS d FROM main.{_q(table)} m"
                f" JOIN temp.{_q(table)} f ON f.id = m.id WHERE d != '' ORDER BY m.id"
            ):
                yield ("derived.stale", table, row_id, f"stale derived column(s): {which.strip()}")
        finally:
            conn.execute(f"DROP TABLE temp.{_q(table)}")


def migrations(conn: sqlite3.Connection) -> Iterator[Finding]:
    applied = applied_migrations(conn)
    if applied is None:
        yield (
            "migrations.missing",
            MIGRATIONS_TABLE,
            None,
            "no migration records: not a crm database",
        )
        return
    known = known_migrations()
    for name in applied:
        if name not in known:
            yield ("migrations.unknown", MIGRATIONS_TABLE, None, f"{name} (made by a newer crm?)")
    for name in known:
        if name not in applied:
            yield ("migrations.pending", MIGRATIONS_TABLE, None, f"{name} not applied")


def logged_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables the change log has rows for, read from the log itself (an index skip-scan)."""
    out: list[str] = []
    last = ""
    while True:
        row = conn.execute(
            "SELECT min(table_name) FROM changes WHERE table_name > ?", (last,)
        ).fetchone()
        if row[0] is None:
            return out
        last = row[0]
        out.append(last)


def outside_log(conn: sqlite3.Connection) -> dict[str, str]:
    """Tables outside the change log, each with the reason."""
    out = dict(OUTSIDE_LOG)
    for vt, shadows in shadow_tables(conn).items():
        out[vt] = "derived: a full-text index kept on commit"
        for s in shadows:
            out[s] = f"{vt}'s shadow table"
    for t in tables(conn):
        if t.startswith("sqlite_stat"):
            out[t] = "query planner statistics"
    return out


def log_wellformed(
    conn: sqlite3.Connection, existing: set[str], outside: dict[str, str]
) -> Iterator[Finding]:
    """Every change row has the shape its operation needs: insert (no before, an after),
    update (both), delete (a before, no after); JSON objects whose id is the row's."""
    problems = """
      CASE
        WHEN op = 'insert' AND (before IS NOT NULL OR after IS NULL)
          THEN 'an insert needs an after image and no before image'
        WHEN op = 'update' AND (before IS NULL OR after IS NULL)
          THEN 'an update needs before and after images'
        WHEN op = 'delete' AND (before IS NULL OR after IS NOT NULL)
          THEN 'a delete needs a before image and no after image'
        WHEN before IS NOT NULL AND NOT (json_valid(before) AND json_type(before) = 'object')
          THEN 'before is not a JSON object'
        WHEN after IS NOT NULL AND NOT (json_valid(after) AND json_type(after) = 'object')
          THEN 'after is not a JSON object'
        WHEN before IS NOT NULL AND json_extract(before, '$.id') IS NOT row_id
          THEN 'before.id is not the row id'
        WHEN after IS NOT NULL AND json_extract(after, '$.id') IS NOT row_id
          THEN 'after.id is not the row id'
      END"""
    for seq, set_id, table, row_id, problem in conn.execute(
        f"SELECT seq, set_id, table_name, row_id, {problems} AS p FROM changes"
        " WHERE p IS NOT NULL ORDER BY seq"
    ):
        yield ("log.malformed", table, row_id, f"change {seq} (set {set_id}): {problem}")
    for table in logged_tables(conn):
        if table in outside:
            yield (
                "log.malformed",
                table,
                None,
                f"the log has changes to {table} ({outside[table]})",
            )
        elif table not in existing:
            n = conn.execute(
                "SELECT count(*) FROM changes WHERE table_name = ?", (table,)
            ).fetchone()[0]
            yield ("log.malformed", table, None, f"{n} change(s) to a table that does not exist")


def log_sequence(conn: sqlite3.Connection) -> Iterator[Finding]:
    """Each row's changes in order make sense: an insert comes first or after a delete;
    an update or delete follows an insert or update."""
    for seq, table, row_id, op, prev in conn.execute(
        """SELECT seq, table_name, row_id, op, prev FROM (
             SELECT seq, table_name, row_id, op,
                    lag(op) OVER (PARTITION BY table_name, row_id ORDER BY seq) AS prev
             FROM changes)
           WHERE (op = 'insert' AND prev IS NOT NULL AND prev != 'delete')
              OR (op != 'insert' AND (prev IS NULL OR prev = 'delete'))
           ORDER BY seq"""
    ):
        if prev is None and row_id in SEED_ROWS.get(table, ()):
            yield ("log.unlogged_seed", table, row_id,
                   f"seeded by migration m002 without a log record; change {seq} ({op}) is its first")  # fmt: skip
            continue
        what = f"{op} after {prev}" if prev else f"history starts with {op} (no insert)"
        yield ("log.sequence", table, row_id, f"change {seq}: {what}")


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str | None]]:
    """(name, default expression) of each column."""
    return [(r[1], r[4]) for r in conn.execute(f"PRAGMA main.table_info({_q(table)})")]


def _value(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def log_rows(conn: sqlite3.Connection, table: str, detail_limit: int) -> Iterator[Finding]:
    """The latest change of each row the log knows equals the row as it is now.

    The exact comparison is column by column, with the column's affinity (as the value
    was stored) and binary collation; a key missing from an image (an insert logs the
    columns it set; a column added by a later migration) must hold the column's default.
    Two cheaper tests settle most rows first (measured on 1,000,000 activities: 2.4 s
    when images are the row's json_object, 6 s through json_patch, 12 s column by
    column): the image's text equals the row's json_object, or the two are equal once
    merged over the columns' defaults (json_patch: keys missing from the image take
    their default; a null removes a key on both sides alike; whitespace is normalised).
    """
    cols = [(c, d) for c, d in _columns(conn, table) if c not in DERIVED.get(table, ())]
    tests = []
    for c, dflt in cols:
        path = "'" + f'$."{c}"'.replace("'", "''") + "'"
        missing = (
            f"m.{_q(c)} COLLATE BINARY IS NOT ({dflt})"
            if dflt is not None
            else f"m.{_q(c)} IS NOT NULL"
        )
        tests.append(
            f"CASE WHEN CASE WHEN json_type(ch.after, {path}) IS NULL THEN {missing}"
            f" ELSE json_extract(ch.after, {path}) IS NOT m.{_q(c)} COLLATE BINARY END"
            f" THEN '{c} ' ELSE '' END"
        )
    ordered = sorted(cols)
    current = "json_object(" + ", ".join(f"'{c}', m.{_q(c)}" for c, _ in ordered) + ")"
    defaults = (
        "json_object(" + ", ".join(f"'{c}', ({d})" for c, d in ordered if d is not None) + ")"
    )
    differs = (
        f"CASE WHEN ch.after = {current} THEN ''"
        " WHEN NOT json_valid(ch.after) THEN ''"  # reported by log_wellformed
        f" WHEN json_patch({defaults}, ch.after) = json_patch({defaults}, {current}) THEN ''"
        f" ELSE {' || '.join(tests) or chr(39) * 2} END"
    )
    sql = f"""
      WITH latest AS (
        SELECT row_id, max(seq) AS seq FROM changes WHERE table_name = ? GROUP BY row_id)
      SELECT l.row_id, ch.seq, ch.op, m.id IS NOT NULL AS present,
             CASE WHEN ch.op != 'delete' AND m.id IS NOT NULL THEN {differs} ELSE '' END AS d
      FROM latest l JOIN changes ch ON ch.seq = l.seq
      LEFT JOIN main.{_q(table)} m ON m.id = l.row_id
      WHERE (ch.op = 'delete') = (m.id IS NOT NULL) OR d != ''
      ORDER BY l.row_id"""
    shown = 0
    for row_id, seq, op, present, which in conn.execute(sql, (table,)):
        if op == "delete":
            yield ("log.deleted_present", table, row_id, f"deleted by change {seq} but present")
        elif not present:
            yield (
                "log.missing",
                table,
                row_id,
                f"absent, but change {seq} ({op}) left it in place",
            )
        else:
            names = which.split()
            detail = f"differs from its latest change ({seq}) in: {', '.join(names)}"
            if shown < detail_limit:  # show values for the findings that will be listed
                after = json.loads(
                    conn.execute("SELECT after FROM changes WHERE seq = ?", (seq,)).fetchone()[0]
                )
                cur = conn.execute(
                    f"SELECT {', '.join(map(_q, names))} FROM main.{_q(table)} WHERE id = ?",
                    (row_id,),
                ).fetchone()
                detail += (
                    " ("
                    + "; ".join(
                        f"{n}: logged {_value(after.get(n))}, now {_value(v)}"
                        for n, v in zip(names, cur)
                    )
                    + ")"
                )
            shown += 1
            yield ("log.mismatch", table, row_id, detail)


def unlogged_rows(conn: sqlite3.Connection, table: str) -> Iterator[Finding]:
    """Rows the change log has never seen (created behind its back)."""
    seed = SEED_ROWS.get(table, set())
    for (row_id,) in conn.execute(
        f"SELECT m.id FROM main.{_q(table)} m WHERE NOT EXISTS"
        " (SELECT 1 FROM changes ch WHERE ch.table_name = ? AND ch.row_id = m.id) ORDER BY m.id",
        (table,),
    ):
        if row_id in seed:
            yield (
                "log.unlogged_seed",
                table,
                row_id,
                "seeded by migration m002 without a log record",
            )
        else:
            yield ("log.unlogged", table, row_id, "no change-log record (created outside the log)")


def id_counters(conn: sqlite3.Connection) -> Iterator[Finding]:
    """AUTOINCREMENT counters are past every id in the table and in the log (ids are never reused)."""
    names = set(tables(conn))
    if "sqlite_sequence" not in names:
        return
    for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name").fetchall():
        if name not in names:
            continue
        top = conn.execute(f"SELECT max(rowid) FROM main.{_q(name)}").fetchone()[0] or 0
        logged = None
        if "changes" in names:
            logged = conn.execute(
                "SELECT max(row_id) FROM changes WHERE table_name = ?", (name,)
            ).fetchone()[0]
        high = max(top, logged or 0)
        if seq < high:
            yield (
                "ids.counter",
                name,
                None,
                f"id counter {seq} is behind id {high}: an id could be reused",
            )


def has_id_column(conn: sqlite3.Connection, table: str) -> bool:
    return any(c == "id" for c, _ in _columns(conn, table))


def _guarded(name: str, findings: Iterator[Finding]) -> Iterator[Finding]:
    """Run one check; a database error stops only that check and is itself a finding."""
    try:
        yield from findings
    except sqlite3.DatabaseError as e:
        if _locked(e):
            raise Busy(f"database is locked by another writer ({name} check)") from None
        yield ("integrity", None, None, f"the {name} check could not run: {e}")


def run_checks(
    path: Path, *, quick: bool, detail_limit: int, meta: dict[str, Any]
) -> Iterator[Finding]:
    """Every check of ``crm db check``, one finding at a time; ``meta`` collects what was
    checked, what was skipped and how long each check took."""
    rw = connect(path, "rw")  # opened first and closed last, so no -wal/-shm is left behind
    try:
        ro = connect(path, "ro")  # reads only; the TEMP tables of the fresh computations work
        try:
            yield from _snapshot_checks(ro, path, quick=quick, detail_limit=detail_limit, meta=meta)
        finally:
            end_snapshot(ro)
            ro.close()
        if "search_fts" in tables(rw):
            t0 = time.perf_counter()
            yield from _guarded("fts_integrity", fts_integrity(rw, meta["skipped"]))
            meta["timings"]["fts_integrity"] = elapsed(t0)
    finally:
        rw.close()


def _snapshot_checks(
    conn: sqlite3.Connection, path: Path, *, quick: bool, detail_limit: int, meta: dict[str, Any]
) -> Iterator[Finding]:
    timings: dict[str, float] = meta.setdefault("timings", {})
    skipped: list[str] = meta.setdefault("skipped", [])

    def timed(name: str, findings: Iterator[Finding]) -> Iterator[Finding]:
        t0 = time.perf_counter()
        yield from _guarded(name, findings)
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 3)

    begin_snapshot(conn)
    names = set(tables(conn))
    yield from timed("integrity", integrity(conn, quick=quick))
    yield from timed("foreign_keys", foreign_keys(conn))
    applied = applied_migrations(conn)
    if applied is None or "contacts" not in names or "changes" not in names:
        yield ("migrations.missing", None, None, "not a crm database (no crm migration records)")
        return
    problems = list(timed("migrations", migrations(conn)))
    yield from problems
    current = not problems
    if not current:
        skipped.append("derived data and the search index (migrations pending or unknown)")
    if current and "search_fts" in names:
        yield from timed("search_index", search_index(conn, path))
    if current:
        yield from timed("derived", derived(conn, path, skipped))
    outside = outside_log(conn)
    logged = logged_tables(conn)
    meta["logged_tables"] = logged
    meta["outside_log"] = {t: why for t, why in sorted(outside.items()) if t in names}
    meta.update(counts_summary(conn))
    yield from timed("log_wellformed", log_wellformed(conn, names, outside))
    yield from timed("log_sequence", log_sequence(conn))
    checked = 0
    for table in sorted(names):
        if table in outside or not has_id_column(conn, table):
            continue
        if table in logged:
            yield from timed("log_rows", log_rows(conn, table, detail_limit))
        yield from timed("log_unlogged", unlogged_rows(conn, table))
        checked += conn.execute(f"SELECT count(*) FROM main.{_q(table)}").fetchone()[0]
    meta["rows_checked"] = checked
    yield from timed("ids", id_counters(conn))


def counts_summary(conn: sqlite3.Connection) -> dict[str, int]:
    """How many change sets and row changes the log holds."""
    return {
        "change_sets": conn.execute("SELECT count(*) FROM change_sets").fetchone()[0],
        "changes": conn.execute("SELECT count(*) FROM changes").fetchone()[0],
    }


def begin_snapshot(conn: sqlite3.Connection) -> None:
    """Start a read transaction: every later read sees the database as of now."""
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def end_snapshot(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def file_sizes(path: Path) -> dict[str, int]:
    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except FileNotFoundError:
            return 0

    db = size(path)
    wal = size(path.with_name(path.name + "-wal"))
    return {"db": db, "wal": wal, "total": db + wal}


def file_time(path: Path) -> float:
    """The last modification of the database, its -wal included."""
    times = [path.stat().st_mtime]
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        times.append(wal.stat().st_mtime)
    return max(times)


def elapsed(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)
