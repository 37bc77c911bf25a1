"""Open the database and run writes as recorded, undoable transactions.

``open_db`` is the only way in. Every write goes through ``transaction``: the
outermost one starts with ``BEGIN IMMEDIATE`` (writers queue on the busy timeout
instead of failing midway, which a deferred BEGIN that reads then writes does),
nested ones become savepoints, and every insert, update and delete made through
the ``Transaction`` helpers is appended to ``changes`` under one ``change_sets``
row, so one user command is one ``crm undo`` step.

sqlite-utils is imported lazily (``Db.su``): it costs ~100 ms of start-up, and
read paths here run plain parameterised SQL on the same connection.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any

from crm_cli.errors import Busy, Conflict, InvalidInput, NotFound

BUSY_TIMEOUT_MS = 5000

# Child tables whose rows belong to a parent row: a change to an email marks its
# contact as touched, so derived data (the search index) of the parent is refreshed.
PARENT_KEYS: dict[str, tuple[tuple[str, str], ...]] = {}

# Child rows that feed a parent's derived summary columns (a contact's last activity
# time, its order count) without being part of the parent: logging a call must not
# bump the contact's version, or it would block undoing an earlier edit of it.
SUMMARY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {}

# Derived columns: kept current by refreshers, never written to the change log, so
# they take no part in undo's conflict checks (an undo restores the rest of the row).
DERIVED: dict[str, tuple[str, ...]] = {}

# Rows whose ``version`` counts every change to them or to their child rows, so an
# undo can tell that a later command touched a contact's emails or tags.
VERSIONED = ("contacts", "orgs", "deals")

# Called with the Transaction before each COMMIT, to refresh derived data
# (the search index) for the rows it touched. Derived data stays out of the log.
_REFRESHERS: list[Callable[[Transaction], None]] = []


def on_commit(fn: Callable[[Transaction], None]) -> Callable[[Transaction], None]:
    """Register a refresher of derived data run before every commit."""
    _REFRESHERS.append(fn)
    return fn


def default_path() -> Path:
    """Where the database lives without --db or CRM_DB: the user data dir."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("crm", appauthor=False)) / "crm.db"


def resolve_path(path: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Return the database path and whether it is the built-in default."""
    if path:
        return Path(path).expanduser(), False
    env = os.environ.get("CRM_DB")
    if env:
        return Path(env).expanduser(), False
    return default_path(), True


def fold(text: Any) -> str | None:
    """Fold case and accents so 'garcia' matches 'García' (SQLite LIKE folds ASCII only)."""
    if text is None:
        return None
    s = unicodedata.normalize("NFKD", str(text))
    return "".join(c for c in s if not unicodedata.combining(c)).casefold()


def casefold(text: Any) -> str | None:
    """Fold case only (Unicode-aware, NFC): 'ÓPTICA' equals 'óptica' but not 'optica'."""
    if text is None:
        return None
    return unicodedata.normalize("NFC", str(text)).casefold()


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def is_number(text: Any) -> int:
    """1 if the text is a plain decimal number ('10', '-2.5'), else 0."""
    return int(text is not None and _NUMBER.fullmatch(str(text).strip()) is not None)


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions our queries use: crm_fold (case+accents), crm_casefold (case),
    crm_is_number (custom-field values that compare as numbers)."""
    conn.create_function("crm_fold", 1, fold, deterministic=True)
    conn.create_function("crm_casefold", 1, casefold, deterministic=True)
    conn.create_function("crm_is_number", 1, is_number, deterministic=True)


class Db:
    """One open database: the sqlite3 connection plus the acting user and command."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path
        self.actor: str | None = None  # name or email of the acting user
        self.command: str | None = None  # the command line, for the change log
        # Returns the current instant as stored text; domain code swaps in its own
        # clock (CRM_NOW) so storage never converts times itself.
        self.clock: Callable[[], str] = utcnow_text
        self._tx: Transaction | None = None
        # Called with the set id after each command's change set commits (the hooks).
        self.after_commit: Callable[[Db, int], None] | None = None

    @cached_property
    def su(self):
        """The sqlite-utils Database over the same connection (imported on first use)."""
        from sqlite_utils import Database

        return Database(self.conn, execute_plugins=False, recursive_triggers=False)

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        """A number that changes whenever another connection commits."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]


def _is_locked(e: sqlite3.OperationalError) -> bool:
    msg = str(e)
    return "database is locked" in msg or "database is busy" in msg


def busy_error() -> Busy:
    return Busy(f"database is locked by another writer (waited {BUSY_TIMEOUT_MS // 1000}s)")


def open_db(path: str | os.PathLike | None = None, *, must_exist: bool = False) -> Db:
    """Open (creating if needed) the database, apply pending migrations, return it."""
    p, is_default = resolve_path(path)
    if p.exists() and p.is_dir():
        raise InvalidInput(f"database path is a directory: {p}")
    if not p.exists():
        if must_exist:
            raise NotFound(
                f"no database at {p} (the first write creates it: try 'crm demo' or 'crm contact add')"
            )
        if is_default:
            p.parent.mkdir(parents=True, exist_ok=True)
        elif not p.parent.exists():
            raise InvalidInput(f"database directory does not exist: {p.parent}")
    try:
        conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as e:
        raise InvalidInput(f"cannot open database {p}: {e}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        _retry_busy(lambda: _wal(conn))
        conn.execute("PRAGMA synchronous = NORMAL")
        register_functions(conn)
        from crm_cli.storage.migrations import migrate

        migrate(conn)
    except sqlite3.OperationalError as e:
        conn.close()
        if _is_locked(e):
            raise busy_error() from None
        raise InvalidInput(f"cannot open database {p}: {e}") from None
    except sqlite3.DatabaseError as e:
        conn.close()
        raise InvalidInput(f"cannot open database {p}: {e}") from None
    return Db(conn, p)


@contextmanager
def durable_commits(db: Db) -> Iterator[None]:
    """Every commit inside reaches the disk before it returns (``synchronous = FULL``).

    The default (NORMAL, in WAL mode) survives a killed process but may lose the last
    commits to a power cut. A record that something is about to happen outside the
    database -- a campaign message about to be handed to the SMTP server -- must survive
    both, or a power cut could let it happen twice.
    """
    db.conn.execute("PRAGMA synchronous = FULL")
    try:
        yield
    finally:
        db.conn.execute("PRAGMA synchronous = NORMAL")


def _wal(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _retry_busy(fn: Callable[[], Any]) -> Any:
    """Retry what SQLite refuses with BUSY without calling the busy handler (journal mode)."""
    import random
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if not _is_locked(e) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def utcnow_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(row: dict | None) -> str | None:
    return None if row is None else json.dumps(row, ensure_ascii=False, sort_keys=True)


def row_dict(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row)}


def fetch_one(db: Db, sql: str, params: Iterable = ()) -> dict | None:
    cur = db.conn.execute(sql, tuple(params))
    row = cur.fetchone()
    return None if row is None else row_dict(cur, row)


def fetch_all(db: Db, sql: str, params: Iterable = ()) -> list[dict]:
    cur = db.conn.execute(sql, tuple(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


class Transaction:
    """Row changes that are applied and appended to the change log together."""

    def __init__(self, db: Db, set_id: int, at: str, actor_id: int, versioned: bool = True):
        self.db = db
        self.versioned = versioned  # bump parents' version (an undo restores them exactly)
        self.inserted: dict[str, set[int]] = {}
        self.set_id = set_id
        self.at = at
        self.actor_id = actor_id
        self.count = 0
        self.touched: dict[str, set[int]] = {}  # rows changed directly
        self.touched_parents: dict[str, set[int]] = {}  # parents of changed child rows
        self.summary_parents: dict[str, set[int]] = {}  # rows whose summaries need a refresh
        self._next_ids: dict[str, int] = {}
        self.depth = 0
        self.open = True  # False between a checkpoint's COMMIT and the next write

    def ensure_open(self) -> None:
        """Start the next batch's BEGIN IMMEDIATE if a checkpoint ended the last one."""
        if not self.open:
            _begin(self.db)
            self.open = True
            row = self.db.conn.execute(
                "SELECT reverted_by_set_id FROM change_sets WHERE id = ?", (self.set_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                raise Conflict(
                    f"change set {self.set_id} was reverted while it was being written; stopped"
                )

    # -- helpers ---------------------------------------------------------
    def _touch(self, table: str, row_id: int, row: dict | None = None) -> None:
        self.touched.setdefault(table, set()).add(row_id)
        if row is None:
            return
        for key, parent in PARENT_KEYS.get(table, ()):
            if row.get(key) is not None:
                self.touched_parents.setdefault(parent, set()).add(row[key])
        for key, parent in SUMMARY_KEYS.get(table, ()):
            if row.get(key) is not None:
                self.summary_parents.setdefault(parent, set()).add(row[key])

    def _log(self, table: str, row_id: int, op: str, before, after) -> None:
        self.db.conn.execute(
            "INSERT INTO changes (set_id, table_name, row_id, op, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            (self.set_id, table, row_id, op, _dumps(before), _dumps(after)),
        )
        self.count += 1
        self._touch(table, row_id, after if after is not None else before)
        if before is not None and after is not None:
            self._touch(table, row_id, before)

    def get(self, table: str, row_id: int) -> dict | None:
        """The row as the change log records it (derived columns left out)."""
        row = fetch_one(self.db, f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if row is not None:
            for col in DERIVED.get(table, ()):
                row.pop(col, None)
        return row

    # -- writes ----------------------------------------------------------
    def insert(self, table: str, row: dict) -> int:
        """Insert one row (keeping an explicit id if given) and log it."""
        self.ensure_open()
        cols = list(row)
        cur = self.db.conn.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols],
        )
        row_id = row.get("id") or cur.lastrowid
        self._next_ids.pop(table, None)
        self.inserted.setdefault(table, set()).add(row_id)
        self._log(table, row_id, "insert", None, {**row, "id": row_id})
        return row_id

    def insert_many(self, table: str, rows: list[dict]) -> list[int]:
        """Insert many rows with one executemany, assigning ids under the write lock.

        The change log rows are written by one INSERT ... SELECT json_object(...) over
        the new id range, so logging costs SQLite time, not Python time.
        """
        if not rows:
            return []
        self.ensure_open()
        start = self._next_id(table)
        end = start + len(rows) - 1
        self._next_ids[table] = end + 1
        cols = [c for c in rows[0] if c != "id"]
        sql = f"INSERT INTO {table} (id, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))})"
        values = itemgetter(*cols) if len(cols) > 1 else (lambda r: (r[cols[0]],))
        width = len(rows[0])

        def params():
            for i, r in enumerate(rows, start):
                if len(r) != width:  # a missing key fails in values(r): an extra one here
                    raise ValueError(f"insert_many into {table}: rows must all have the same keys")
                yield (i, *values(r))

        self.db.conn.executemany(sql, params())
        logged = sorted(["id", *cols])
        obj = ", ".join(f"'{c}', {c}" for c in logged)
        self.db.conn.execute(
            "INSERT INTO changes (set_id, table_name, row_id, op, before, after)"
            f" SELECT ?, ?, id, 'insert', NULL, json_object({obj}) FROM {table}"
            " WHERE id BETWEEN ? AND ? ORDER BY id",
            (self.set_id, table, start, end),
        )
        ids = list(range(start, end + 1))
        self.count += len(ids)
        self.touched.setdefault(table, set()).update(ids)
        self.inserted.setdefault(table, set()).update(ids)
        for key, parent in PARENT_KEYS.get(table, ()):
            self.touched_parents.setdefault(parent, set()).update(
                r[key] for r in rows if r.get(key) is not None
            )
        for key, parent in SUMMARY_KEYS.get(table, ()):
            self.summary_parents.setdefault(parent, set()).update(
                r[key] for r in rows if r.get(key) is not None
            )
        return ids

    def _next_id(self, table: str) -> int:
        if table in self._next_ids:
            return self._next_ids[table]
        seq = self.db.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        top = self.db.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return max(seq[0] if seq else 0, top or 0) + 1

    def update(self, table: str, row_id: int, values: dict) -> bool:
        """Update the given columns of one row; log and return True if anything changed."""
        self.ensure_open()
        before = self.get(table, row_id)
        if before is None:
            raise NotFound(f"{table} row {row_id} does not exist")
        changed = {k: v for k, v in values.items() if before.get(k) != v}
        if not changed:
            return False
        self.db.conn.execute(
            f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in changed)} WHERE id = ?",
            [*changed.values(), row_id],
        )
        self._log(table, row_id, "update", before, {**before, **changed})
        return True

    def delete(self, table: str, row_id: int) -> dict | None:
        """Delete one row and log its last values; return them (None if absent)."""
        self.ensure_open()
        before = self.get(table, row_id)
        if before is None:
            return None
        self.db.conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
        self._log(table, row_id, "delete", before, None)
        return before

    def checkpoint(self) -> None:
        """Commit what is done so far and go on in the same change set (long imports)."""
        if self.depth or not self.open:
            return  # inside a savepoint only the outermost level may commit
        _refresh(self)
        self.db.conn.execute("COMMIT")
        # The lock is free until the next write, so other writers get their turn.
        self.open = False
        self._next_ids.clear()  # other writers may have taken ids meanwhile


def _bump_versions(tx: Transaction) -> None:
    for table in VERSIONED:
        ids = set(tx.touched.get(table, ())) | tx.touched_parents.get(table, set())
        ids -= tx.inserted.get(table, set())
        for row_id in sorted(ids):
            row = tx.db.conn.execute(
                f"SELECT version FROM {table} WHERE id = ?", (row_id,)
            ).fetchone()
            if row is not None:
                tx.update(table, row_id, {"version": row[0] + 1})


def _refresh(tx: Transaction) -> None:
    if tx.versioned:
        _bump_versions(tx)
    for fn in _REFRESHERS:
        fn(tx)
    tx.touched.clear()
    tx.touched_parents.clear()
    tx.summary_parents.clear()
    tx.inserted.clear()


def _begin(db: Db) -> None:
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if _is_locked(e):
            raise busy_error() from None
        raise


# The pipeline a database starts with: created by its first write (see ``_first_use``).
DEFAULT_PIPELINE = (
    "sales",
    (("lead", 10), ("qualified", 25), ("proposal", 50), ("negotiation", 75)),
)


def needs_default_pipeline(db: Db) -> bool:
    """True on a database that has never had a pipeline (none now, none in the change log).

    A database whose pipelines were all removed keeps their record in the change log,
    so its next write does not bring 'sales' back.
    """
    conn = db.conn
    return (
        conn.execute("SELECT 1 FROM pipelines LIMIT 1").fetchone() is None
        and conn.execute("SELECT 1 FROM changes WHERE table_name = 'pipelines' LIMIT 1").fetchone()
        is None
    )


def _log_insert(db: Db, set_id: int, table: str, row: dict) -> int:
    cols = list(row)
    row_id = db.conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [row[c] for c in cols],
    ).lastrowid
    db.conn.execute(
        "INSERT INTO changes (set_id, table_name, row_id, op, before, after) VALUES (?, ?, ?, 'insert', NULL, ?)",
        (set_id, table, row_id, _dumps({**row, "id": row_id})),
    )
    return row_id


def _actor_id(db: Db, at: str) -> int:
    """Find the acting user; on a database's first write, create what it starts with.

    The first write on a fresh database creates the acting user (when there are no users
    yet) and the default pipeline (when there has never been one), in a change set of
    their own marked not undoable, so undoing the first command never removes them.
    """
    name = db.actor or "unknown"
    row = db.conn.execute(
        "SELECT id FROM users WHERE name = ? OR email = ? ORDER BY id LIMIT 1",
        (name, name),
    ).fetchone()
    if not row and db.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
        raise InvalidInput(
            f"unknown user '{name}': add it with 'crm user add', or act as a known user with --as"
        )
    pipeline = needs_default_pipeline(db)
    if row and not pipeline:
        return row[0]
    label = "user add (first use)" if not row else f"pipeline add {DEFAULT_PIPELINE[0]} (first use)"
    if not row and pipeline:
        label = f"user add, pipeline add {DEFAULT_PIPELINE[0]} (first use)"
    set_id = db.conn.execute(
        "INSERT INTO change_sets (label, command, status, undoable, created_at, finished_at)"
        " VALUES (?, ?, 'done', 0, ?, ?)",
        (label, db.command, at, at),
    ).lastrowid
    if row:
        uid = row[0]
    else:
        user = {"name": name, "email": name if "@" in name else None, "role": None,
                "team_id": None, "manager_id": None, "created_at": at, "updated_at": at}  # fmt: skip
        uid = _log_insert(db, set_id, "users", user)
    if pipeline:
        pname, stages = DEFAULT_PIPELINE
        pid = _log_insert(
            db, set_id, "pipelines", {"name": pname, "created_at": at, "updated_at": at}
        )
        for pos, (sname, prob) in enumerate(stages, 1):
            _log_insert(db, set_id, "stages", {"pipeline_id": pid, "name": sname,
                                               "position": pos, "probability": prob})  # fmt: skip
    db.conn.execute("UPDATE change_sets SET actor_id = ? WHERE id = ?", (uid, set_id))
    return uid


def first_use(db: Db) -> None:
    """Create now what a fresh database starts with (acting user, default pipeline), if missing.

    For write commands that look up the default pipeline before their transaction starts:
    the same not-undoable change set their first write would have made.
    """
    if db._tx is not None or not needs_default_pipeline(db):
        return
    at = db.clock()
    _begin(db)
    try:
        _actor_id(db, at)
        db.conn.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


@contextmanager
def transaction(
    db: Db, label: str, *, undoable: bool = True, at: str | None = None, versioned: bool = True
) -> Iterator[Transaction]:
    """Run a write as one change set: BEGIN IMMEDIATE outside, a savepoint inside.

    ``versioned=False`` (for undo) restores rows exactly instead of bumping versions.
    """
    if db._tx is not None:
        tx = db._tx
        sp = f"sp_{tx.count}_{id(label)}"
        tx.ensure_open()
        db.conn.execute(f"SAVEPOINT {sp}")
        tx.depth += 1
        try:
            yield tx
        except BaseException:
            db.conn.execute(f"ROLLBACK TO SAVEPOINT {sp}")
            db.conn.execute(f"RELEASE SAVEPOINT {sp}")
            raise
        else:
            db.conn.execute(f"RELEASE SAVEPOINT {sp}")
        finally:
            tx.depth -= 1
        return
    at = at or db.clock()
    _begin(db)
    try:
        actor_id = _actor_id(db, at)
        set_id = db.conn.execute(
            "INSERT INTO change_sets (actor_id, label, command, status, undoable, created_at)"
            " VALUES (?, ?, ?, 'open', ?, ?)",
            (actor_id, label, db.command, 1 if undoable else 0, at),
        ).lastrowid
        tx = Transaction(db, set_id, at, actor_id, versioned)
        db._tx = tx
        yield tx
        tx.ensure_open()
        _refresh(tx)
        # A command that changed nothing (or whose only changes were rolled back to a
        # savepoint) leaves no empty set behind in the history.
        if not db.conn.execute(
            "SELECT 1 FROM changes WHERE set_id = ? LIMIT 1", (set_id,)
        ).fetchone():
            db.conn.execute("DELETE FROM change_sets WHERE id = ?", (set_id,))
        else:
            db.conn.execute(
                "UPDATE change_sets SET status = 'done', finished_at = ? WHERE id = ?",
                (db.clock(), set_id),
            )
        db.conn.execute("COMMIT")
    except sqlite3.OperationalError as e:
        _rollback(db)
        if _is_locked(e):
            raise busy_error() from None
        raise
    except sqlite3.IntegrityError as e:
        _rollback(db)
        raise Conflict(f"the change breaks the database's integrity rules: {e}") from None
    except BaseException:
        _rollback(db)
        raise
    finally:
        db._tx = None
    if db.after_commit is not None:
        db.after_commit(db, set_id)


def _rollback(db: Db) -> None:
    if db.conn.in_transaction:
        try:
            db.conn.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - nothing more to do
            print("crm: warning: rollback failed", file=sys.stderr)
