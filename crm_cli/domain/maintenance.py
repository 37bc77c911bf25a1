"""crm db: back up, restore, check and describe the database file.

The rules live here: where backups go and what they are called, which ones ``--keep``
removes, when a restore is refused, how findings are grouped and counted. The SQL and
the file mechanics are in ``storage.maintenance``.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.storage import maintenance as store

# crm-20260310T080000Z.db, or crm-20260310T080000Z-2.db for a second one in that second.
BACKUP_NAME = re.compile(r"^crm-(\d{8}T\d{6}Z)(?:-(\d+))?\.db$")
_TMP_NAME = re.compile(r"^\.(.+)\.tmp-(\d+)$")


def _stamp(now: datetime | None) -> str:
    from crm_cli.domain import dates

    return (now or dates.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def database_path(path: str | None) -> Path:
    """The database file named by --db, CRM_DB or the default; it must exist."""
    from crm_cli.storage.db import resolve_path

    p, _ = resolve_path(path)
    if not p.exists():
        raise NotFound(f"no database at {p}")
    if p.is_dir():
        raise InvalidInput(f"database path is a directory: {p}")
    return p


# -- backup ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backup:
    path: str
    bytes: int
    seconds: float
    tables: dict[str, int]
    removed: list[str] = field(default_factory=list)  # older backups --keep deleted


def _free_name(folder: Path, base: str, suffix: str) -> Path:
    """``base + suffix`` in folder, or ``base-2 + suffix``... if taken (same second)."""
    candidate = folder / f"{base}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{base}-{n}{suffix}"
        n += 1
    return candidate


def backup_target(db: Path, target: str | None, now: datetime | None = None) -> Path:
    """Where a backup goes: a new timestamped file in ``backups/`` beside the database, in
    a given directory, or a given file name (which must not exist)."""
    if target is None:
        folder = db.parent / "backups"
        folder.mkdir(exist_ok=True)
        return _free_name(folder, f"crm-{_stamp(now)}", ".db")
    t = Path(target).expanduser()
    if t.is_dir() or target.endswith(("/", os.sep)):
        if not t.is_dir():
            raise InvalidInput(f"backup directory does not exist: {t}")
        return _free_name(t, f"crm-{_stamp(now)}", ".db")
    if t.exists():
        raise InvalidInput(
            f"{t} already exists; not overwriting it (give a new name or a directory)"
        )
    if not t.parent.is_dir():
        raise InvalidInput(f"backup directory does not exist: {t.parent}")
    if t.resolve() == db.resolve():
        raise InvalidInput("the backup cannot be the database itself")
    return t


def _clean_stale_temps(folder: Path) -> None:
    """Remove temp files of backups killed midway (their process is gone)."""
    for p in folder.iterdir():
        m = _TMP_NAME.match(p.name)
        if not m or not BACKUP_NAME.match(m.group(1)):
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:
            store.remove_with_sidecars(p)
        except (PermissionError, OverflowError):
            pass


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest timestamped backups in folder beyond the newest ``keep``."""
    if keep < 1:
        raise InvalidInput("--keep must be at least 1")
    found = []
    for p in folder.iterdir():
        m = BACKUP_NAME.match(p.name)
        if m and p.is_file():
            found.append(((m.group(1), int(m.group(2) or 1)), p))
    found.sort()
    old = [p for _, p in found[: max(0, len(found) - keep)]]
    for p in old:
        store.remove_with_sidecars(p)
    return old


def verify_copy(path: Path) -> dict[str, int]:
    """Check a copy: sound (quick_check) and a crm database; return its row counts."""
    conn = store.connect_copy(path)
    try:
        d = store.describe(conn)
        if d["problems"]:
            raise InvalidInput(f"the copy failed its check: {d['problems'][0]}")
        if d["migrations"] is None:
            raise InvalidInput(f"{path} is not a crm database")
        return user_table_counts(conn)
    finally:
        conn.close()


def user_table_counts(conn) -> dict[str, int]:
    """Row counts of the user's tables (not the search index and its shadow tables)."""
    index = store.shadow_tables(conn)
    skip = set(index) | {s for ss in index.values() for s in ss}
    names = [t for t in store.tables(conn) if t not in skip and not t.startswith("sqlite_")]
    return store.row_counts(conn, names)


def backup(
    db_path: str | None,
    target: str | None = None,
    *,
    keep: int | None = None,
    now: datetime | None = None,
) -> Backup:
    """Copy the database consistently while others write; verify, sync, then name it."""
    if keep is not None and keep < 1:
        raise InvalidInput("--keep must be at least 1")
    db = database_path(db_path)
    final = backup_target(db, target, now)
    _clean_stale_temps(final.parent)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    t0 = time.perf_counter()
    source = store.connect(db, "rw")
    try:
        store.copy_database(source, tmp)
        counts = verify_copy(tmp)
        store.install(tmp, final)
    except BaseException:
        store.remove_with_sidecars(tmp)
        raise
    finally:
        source.close()
    seconds = time.perf_counter() - t0
    removed = rotate(final.parent, keep) if keep is not None else []
    return Backup(
        path=str(final),
        bytes=final.stat().st_size,
        seconds=round(seconds, 3),
        tables=counts,
        removed=[str(p) for p in removed],
    )


# -- restore -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a restore: the backup or the live database."""

    path: str
    exists: bool
    last_change: dict | None = None  # set_id, at, actor, label
    migrations: int = 0
    mtime: float | None = None
    damage: str | None = None  # why it could not be read


@dataclass(frozen=True, slots=True)
class RestorePlan:
    source: Side
    live: Side
    newer: str | None  # why the live database is newer than the backup, if it is
    readable: bool  # the live file is an SQLite database (else it is moved aside)


@dataclass(frozen=True, slots=True)
class Restored:
    path: str
    source: str
    replaced: str | None  # where the replaced database is kept
    migrated: list[str]


def _newer(live: Side, source: Side) -> str | None:
    """Why the live database is newer than the backup (None if it is not)."""
    a, b = live.last_change, source.last_change
    if a and b:
        if (a["at"], a["set_id"]) > (b["at"], b["set_id"]):
            return (
                f"it is newer than the backup: its last change set ({a['set_id']}, {a['at']})"
                f" is later than the backup's ({b['set_id']}, {b['at']})"
            )
        return None
    if a and not b:
        return (
            f"it is newer than the backup: it has change sets (the last {a['set_id']},"
            f" {a['at']}) and the backup has none"
        )
    if not a and not b and live.mtime and source.mtime and live.mtime > source.mtime:
        return (
            "it is newer than the backup: neither has change sets and the database file was"
            " modified after the backup"
        )
    return None


def inspect_source(source: str) -> Side:
    """Validate a backup: readable, sound, a crm database, migrations a prefix of ours."""
    p = Path(source).expanduser()
    if not p.is_file():
        raise NotFound(f"no backup file at {p}")
    if not os.access(p, os.R_OK):
        raise InvalidInput(f"cannot read {p}")
    conn = store.connect_copy(p)
    try:
        d = store.describe(conn)
    finally:
        conn.close()
    if d["problems"]:
        raise InvalidInput(f"{p} is damaged (quick_check: {d['problems'][0]}); not restoring it")
    applied = d["migrations"]
    if applied is None:
        raise InvalidInput(f"{p} is not a crm database")
    known = store.known_migrations()
    if applied != known[: len(applied)]:
        unknown = [n for n in applied if n not in known]
        if unknown:
            raise InvalidInput(
                f"{p} was made by a newer crm (unknown migrations: {', '.join(unknown)});"
                " upgrade crm first"
            )
        raise InvalidInput(f"{p}'s migrations are not a prefix of this crm's: {', '.join(applied)}")
    return Side(str(p), True, d["last_change"], len(applied), p.stat().st_mtime)


def inspect_live(db_path: str | None) -> tuple[Side, bool]:
    """The live database as a restore sees it, and whether SQLite can read it."""
    from crm_cli.storage.db import resolve_path

    p, _ = resolve_path(db_path)
    if not p.exists():
        if not p.parent.is_dir():
            raise InvalidInput(f"database directory does not exist: {p.parent}")
        return Side(str(p), False), True
    try:
        conn = store.connect(p, "rw")
    except InvalidInput:
        return Side(str(p), True, None, 0, store.file_time(p)), False
    try:
        d = store.describe(conn, check=False)
    finally:
        conn.close()
    if d["problems"]:  # damaged: SQLite opens it, so it is replaced in place, but unread
        return Side(str(p), True, None, 0, store.file_time(p), d["problems"][0]), True
    side = Side(str(p), True, d["last_change"], len(d["migrations"] or []), store.file_time(p))
    return side, True


def plan_restore(db_path: str | None, source: str) -> RestorePlan:
    """What a restore would do, and whether it would be refused (checked again under the lock)."""
    src = inspect_source(source)
    live, readable = inspect_live(db_path)
    if live.exists and Path(live.path).resolve() == Path(src.path).resolve():
        raise InvalidInput("the backup is the database itself")
    newer = _newer(live, src) if live.exists else None
    if live.exists and not readable:
        newer = "it cannot be read as a database, so nothing tells which is newer"
    elif live.damage:
        newer = f"it cannot be read ({live.damage}), so nothing tells which is newer"
    return RestorePlan(src, live, newer, readable)


def refuse_if_newer(plan: RestorePlan, *, force: bool) -> None:
    """Refuse a restore over a database newer than the backup, unless forced."""
    if plan.newer and not force:
        raise _refuse_newer(plan.newer)


def _refuse_newer(reason: str) -> Conflict:
    return Conflict(f"not restoring over the database: {reason}; --force restores anyway")


def restore(plan: RestorePlan, *, force: bool = False, now: datetime | None = None) -> Restored:
    """Replace the live database's content with the backup's, keeping what it replaces.

    Under the write lock: the newer-check again (a write may have landed since the plan),
    then a consistent copy of the live database as ``<name>.replaced-<UTC stamp>``; then
    the backup's pages are committed into the live file in one transaction (other open
    connections see the restored data at once). Then an older schema is migrated.
    """
    refuse_if_newer(plan, force=force)
    live = Path(plan.live.path)
    source = Path(plan.source.path)
    stamp = _stamp(now)
    kept: list[Path] = []
    if plan.live.exists and not plan.readable:
        # Not a database at all: nobody can have it open as one. Move it aside whole.
        aside = _free_name(live.parent, f"{live.name}.replaced-{stamp}", "")
        for s in ("", "-wal", "-shm"):
            p = live.with_name(live.name + s)
            if p.exists():
                os.replace(p, aside.with_name(aside.name + s))
        kept.append(aside)
    elif plan.live.exists:

        def under_lock() -> None:
            conn = store.connect(live, "rw")
            try:
                if not force:
                    d = store.describe(conn, check=False)
                    if d["problems"]:
                        raise _refuse_newer(f"it cannot be read ({d['problems'][0]})")
                    again = _newer(Side(str(live), True, d["last_change"]), plan.source)
                    if again:
                        raise _refuse_newer(again)
                final = _free_name(live.parent, f"{live.name}.replaced-{stamp}", "")
                tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
                try:
                    store.copy_database(conn, tmp)
                    store.install(tmp, final)
                except BaseException:
                    store.remove_with_sidecars(tmp)
                    raise
                kept.append(final)
            finally:
                conn.close()

        store.restore_into(source, live, under_lock)
    if not plan.live.exists or not plan.readable:
        tmp = live.with_name(f".{live.name}.tmp-{os.getpid()}")
        try:
            src = store.connect_copy(source)
            try:
                store.copy_database(src, tmp)
            finally:
                src.close()
            store.install(tmp, live)
        except BaseException:
            store.remove_with_sidecars(tmp)
            raise
    migrated = store.migrate_file(live)
    return Restored(str(live), str(source), str(kept[0]) if kept else None, migrated)


# -- check -------------------------------------------------------------------------

# What each check's findings mean, in the order they are reported.
CHECKS: dict[str, str] = {
    "integrity": "PRAGMA integrity_check (or a check the damage stopped)",
    "foreign_key": "a reference to a row that does not exist",
    "migrations.missing": "not a crm database",
    "migrations.unknown": "a migration this crm does not know (a newer crm wrote the file)",
    "migrations.pending": "a migration not applied yet",
    "fts.integrity": "FTS5's own index check failed",
    "fts.missing": "a contact or organization without its search index row",
    "fts.stray": "a search index row for a record that does not exist",
    "fts.stale": "a search index row that differs from a fresh one",
    "derived.stale": "a derived column (summaries, folded names) that differs from a fresh computation",
    "log.malformed": "a change-log row without the shape its operation needs",
    "log.sequence": "a row's changes in an impossible order",
    "log.mismatch": "a row changed behind the change log's back",
    "log.missing": "a row the change log says exists is gone",
    "log.deleted_present": "a row the change log deleted is present",
    "log.unlogged": "a row with no change-log record",
    "log.unlogged_seed": "the default pipeline and stages m002 seeded without a log record (m012 pending)",
    "ids.counter": "an id counter behind the ids in use",
}


@dataclass
class CheckReport:
    path: str
    ok: bool
    findings: list[dict]  # listed: the first ``limit`` of each check and table
    counts: dict[str, int]  # every finding, per check
    listed: int
    total: int
    seconds: float
    meta: dict[str, Any]


def check(
    db_path: str | None,
    *,
    quick: bool = False,
    limit: int | None = 20,
    on_finding: Callable[[dict], None] | None = None,
) -> CheckReport:
    """Run every check; list at most ``limit`` findings per check and table (None: all)."""
    path = database_path(db_path)
    t0 = time.perf_counter()
    meta: dict[str, Any] = {"timings": {}, "skipped": []}
    counts: Counter[str] = Counter()
    per: Counter[tuple[str, str | None]] = Counter()
    listed: list[dict] = []
    detail = 10**9 if limit is None else limit
    for check_name, table, row_id, text in store.run_checks(
        path, quick=quick, detail_limit=detail, meta=meta
    ):
        counts[check_name] += 1
        per[(check_name, table)] += 1
        if limit is None or per[(check_name, table)] <= limit:
            f = {"check": check_name, "table": table, "row_id": row_id, "detail": text}
            listed.append(f)
            if on_finding:
                on_finding(f)
    order = list(CHECKS)
    ordered = dict(
        sorted(counts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0]))
    )
    total = sum(counts.values())
    return CheckReport(
        path=str(path),
        ok=total == 0,
        findings=listed,
        counts=ordered,
        listed=len(listed),
        total=total,
        seconds=round(time.perf_counter() - t0, 3),
        meta=meta,
    )


# -- stats -------------------------------------------------------------------------


def stats(db_path: str | None) -> dict[str, Any]:
    """Row counts, file and page sizes, the last change and the schema version."""
    path = database_path(db_path)
    conn = store.connect(path, "rw")  # reads only (a read-only one could leave -wal/-shm behind)
    try:
        store.begin_snapshot(conn)
        pr = store.pragmas(conn)
        applied = store.applied_migrations(conn) or []
        known = store.known_migrations()
        shadows = store.shadow_tables(conn)
        counts = user_table_counts(conn)
        indexes = {}
        for vt, names in shadows.items():
            indexes[vt] = {
                "rows": store.row_counts(conn, [vt])[vt],
                "shadow_tables": len(names),
                "shadow_rows": sum(store.row_counts(conn, names).values()),
            }
        last = store.last_change(conn)
        store.end_snapshot(conn)
    finally:
        conn.close()
    return {
        "path": str(path),
        "bytes": store.file_sizes(path),
        "page_size": pr["page_size"],
        "page_count": pr["page_count"],
        "freelist_count": pr["freelist_count"],
        "journal_mode": pr["journal_mode"],
        "schema": {
            "migration": applied[-1] if applied else None,
            "applied": len(applied),
            "pending": [n for n in known if n not in applied],
            "unknown": [n for n in applied if n not in known],
        },
        "last_change": last,
        "tables": counts,
        "search_indexes": indexes,
    }
