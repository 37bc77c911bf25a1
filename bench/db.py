"""crm db backup / check / restore on 100,000 contacts and 1,000,000 activities.

Seeds the database as bench/reports.py does (or copies --large-db FILE, never touching
the original), then gives the rows that seeding wrote with plain SQL the change-log
records an import would have written, so the check measures a consistent database:

- check: `maintenance.check` in process (best of --runs), each check's share, and
  `crm db check --json` end to end once;
- backup, under a writer committing a row every 5 ms in another process: the online
  backup API in one step, `VACUUM INTO`, and the backup API in steps of 1,000 pages (the
  documented incremental way, which restarts whenever the writer commits between two
  steps); on the large database and on a ~100 MB one cut from it. Prints the copy time,
  the writer's worst wait, and whether the stepped copy finished;
- `crm db backup` in full (copy, quick_check of the copy, counts, fsync, rename) and
  `crm db restore --force` of that backup.

    python bench/db.py [--large-db FILE] [--runs N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    TempDir,
    bulk_add,
    crm_env,
    emit,
    init_db,
    note,
    read_rows,
    use_env_in_process,
)

WRITER = r"""
import json, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("PRAGMA busy_timeout = 60000")
waits = []
stop = sys.argv[2]
import os
while not os.path.exists(stop):
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, '2026-01-01T00:00:00Z')",
                 (f"bench.{time.time_ns()}", "x" * 200))
    conn.execute("COMMIT")
    waits.append(time.perf_counter() - t)
    time.sleep(0.005)
conn.execute("DELETE FROM settings WHERE key LIKE 'bench.%'")
waits.sort()
print(json.dumps({"commits": len(waits), "p99": waits[int(len(waits) * 0.99)] if waits else 0,
                  "max": waits[-1] if waits else 0}))
"""


def seed(tmp: Path, a) -> Path:
    """A seeded database in tmp: bench/reports.py's, or a copy of --large-db."""
    db = tmp / "bench.db"
    if a.large_db:
        src = Path(a.large_db).resolve()
        conn = sqlite3.connect(f"file:{src}?immutable=1", uri=True)  # reads, never writes it
        conn.execute("VACUUM INTO ?", (str(db),))
        conn.close()
        return db
    from reports import enrich
    from timeline import data_dir, seed_rest

    data = data_dir(tmp, None, a.contacts, a.activities, 42)
    env = crm_env(tmp, db)
    init_db(env)
    rows = read_rows(data / "contacts.csv", a.contacts)
    bulk_add(rows, tmp, env)
    seed_rest(db, data, len(rows), 50_000, 25_000)
    enrich(db, 200_000, 20_000, 100_000)
    return db


def backfill(db: Path) -> int:
    """Change-log records for the rows seeding wrote with plain SQL (what an import logs)."""
    from crm_cli.storage import maintenance, open_db
    from crm_cli.storage.db import DERIVED

    d = open_db(db)  # migrations first
    conn = d.conn
    outside = maintenance.outside_log(conn)
    conn.execute("BEGIN IMMEDIATE")
    set_id = conn.execute(
        "INSERT INTO change_sets (actor_id, label, status, undoable, created_at, finished_at)"
        " VALUES ((SELECT min(id) FROM users), 'bench seed', 'done', 0,"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    ).lastrowid
    n = 0
    for t in maintenance.tables(conn):
        if t in outside or not maintenance.has_id_column(conn, t):
            continue
        cols = [c for c, _ in maintenance._columns(conn, t) if c not in DERIVED.get(t, ())]
        obj = ", ".join(f"'{c}', {c}" for c in sorted(cols))
        n += conn.execute(
            f"INSERT INTO changes (set_id, table_name, row_id, op, before, after)"
            f" SELECT ?, ?, id, 'insert', NULL, json_object({obj}) FROM {t} m"
            " WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.table_name = ? AND c.row_id = m.id)"
            " ORDER BY id",
            (set_id, t, t),
        ).rowcount
    # Seeding also updated rows it had logged (owners, sources): log those updates, and
    # rebuild the search index it left stale, as the commands would have.
    for t in maintenance.logged_tables(conn):
        if t in outside or t not in maintenance.tables(conn):
            continue
        cols = [c for c, _ in maintenance._columns(conn, t) if c not in DERIVED.get(t, ())]
        obj = ", ".join(f"'{c}', {c}" for c in sorted(cols))
        ids = [f[2] for f in maintenance.log_rows(conn, t, 0) if f[0] == "log.mismatch"]
        for i in range(0, len(ids), 5000):
            n += conn.execute(
                "INSERT INTO changes (set_id, table_name, row_id, op, before, after)"
                f" SELECT ?, ?, m.id, 'update', (SELECT after FROM changes WHERE seq ="
                "   (SELECT max(seq) FROM changes WHERE table_name = ? AND row_id = m.id)),"
                f" json_object({obj}) FROM {t} m WHERE m.id IN (SELECT value FROM json_each(?))",
                (set_id, t, t, json.dumps(ids[i : i + 5000])),
            ).rowcount
    from crm_cli.storage import search

    search.rebuild(d)
    conn.execute("COMMIT")
    d.close()
    return n


def cut(large: Path, medium: Path, target_mb: int) -> None:
    """A smaller database for the copy timings: the first part of every big table."""
    shutil.copy(large, medium)
    conn = sqlite3.connect(medium, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    size = large.stat().st_size
    keep = target_mb * 1_000_000 / size
    for (t,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'search_fts%' AND sql NOT LIKE '%VIRTUAL%'"
    ).fetchall():
        top = conn.execute(f"SELECT max(rowid) FROM {t}").fetchone()[0] or 0
        if top > 10_000:
            conn.execute(f"DELETE FROM {t} WHERE rowid > ?", (int(top * keep),))
    conn.execute("DELETE FROM search_fts WHERE rowid > ?", (int(2 * 100_000 * keep),))
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()


def copy_under_writer(db: Path, how: str, out: Path, limit_s: float = 60.0) -> dict:
    stop = out.with_suffix(".stop")
    for p in (stop, out, out.with_name(out.name + "-journal")):
        p.unlink(missing_ok=True)
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop)],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(1.0)
    src = sqlite3.connect(db, isolation_level=None)
    steps = {"n": 0, "restarts": 0, "last": None}
    t0 = time.perf_counter()
    finished = True
    try:
        if how == "backup_api":
            dst = sqlite3.connect(out)
            src.backup(dst)
            dst.close()
        elif how == "vacuum_into":
            src.execute("VACUUM INTO ?", (str(out),))
        else:  # stepped

            def progress(status, remaining, total):
                steps["n"] += 1
                if steps["last"] is not None and remaining > steps["last"]:
                    steps["restarts"] += 1
                steps["last"] = remaining
                if time.perf_counter() - t0 > limit_s:
                    raise TimeoutError

            dst = sqlite3.connect(out)
            try:
                src.backup(dst, pages=1000, progress=progress, sleep=0)
            except TimeoutError:
                finished = False
            dst.close()
    finally:
        secs = time.perf_counter() - t0
        stop.touch()
        res = json.loads(w.communicate()[0])
        src.close()
    return {"seconds": secs, "finished": finished, "restarts": steps["restarts"],
            "bytes": out.stat().st_size if out.exists() else 0, **res}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--activities", type=int, default=1_000_000)
    ap.add_argument("--large-db", metavar="FILE", help="a seeded database to copy (not modified)")
    ap.add_argument("--runs", "-n", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--check-only", action="store_true", help="time crm db check only")
    a = ap.parse_args()
    with TempDir("crm-bench-db-", keep=a.keep) as tmp:
        t0 = time.perf_counter()
        db = seed(tmp, a)
        env = crm_env(tmp, db)
        use_env_in_process(env)
        emit("log_backfill", backfill(db), "rows")
        note(f"seeded in {time.perf_counter() - t0:.0f} s")
        from crm_cli.domain import maintenance

        s = maintenance.stats(str(db))
        emit("db_bytes", s["bytes"]["total"], "bytes")
        for t in ("contacts", "activities", "activity_participants", "changes"):
            emit(f"db_{t}", s["tables"][t], "rows")

        # -- check
        best = None
        for _ in range(a.runs):
            r = maintenance.check(str(db), limit=5)
            if best is None or r.seconds < best.seconds:
                best = r
        emit("check", best.seconds, "s")
        for name, secs in best.meta["timings"].items():
            emit(f"check_{name}", secs, "s")
        emit("check_findings", best.total, "findings")
        for k, v in best.counts.items():
            note(f"  {k}: {v}  e.g. {next(f for f in best.findings if f['check'] == k)}")
        quick = maintenance.check(str(db), quick=True, limit=5)
        emit("check_quick", quick.seconds, "s")
        code = ("import sys\nfrom crm_cli import cli\n"
                "cli.COMMANDS.setdefault('db', ('crm_cli.commands.db', 'app'))\n"
                "sys.argv = ['crm', 'db', 'check', '--json']\ncli.main()")  # fmt: skip
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        emit("check_cli", time.perf_counter() - t, "s")
        note(f"  crm db check exit {p.returncode}")

        if a.check_only:
            return 0

        # -- copies under a writer
        medium = tmp / "medium.db"
        cut(db, medium, 100)
        for label, path in (("medium", medium), ("large", db)):
            emit(f"{label}_bytes", path.stat().st_size, "bytes")
            for how in ("backup_api", "vacuum_into", "backup_api_stepped"):
                if how == "backup_api_stepped" and label == "large":
                    continue
                for _run in range(2):
                    r = copy_under_writer(path, how, tmp / f"copy-{label}-{how}.db")
                    tag = f"{label}_{how}"
                    emit(f"{tag}_seconds", r["seconds"], "s")
                    emit(f"{tag}_writer_max_wait", r["max"] * 1000, "ms")
                    emit(f"{tag}_writer_p99_wait", r["p99"] * 1000, "ms")
                    if how == "backup_api_stepped":
                        emit(f"{tag}_finished", int(r["finished"]), "bool")
                        emit(f"{tag}_restarts", r["restarts"], "restarts")
                    else:
                        emit(f"{tag}_bytes", r["bytes"], "bytes")
                    (tmp / f"copy-{label}-{how}.db").unlink(missing_ok=True)

        # -- crm db backup and restore, whole
        t = time.perf_counter()
        b = maintenance.backup(str(db), str(tmp), keep=None)
        emit("backup_command", time.perf_counter() - t, "s")
        plan = maintenance.plan_restore(str(db), b.path)
        t = time.perf_counter()
        r = maintenance.restore(plan, force=True)
        emit("restore_command", time.perf_counter() - t, "s")
        Path(r.replaced).unlink()
        Path(b.path).unlink()
        note(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
