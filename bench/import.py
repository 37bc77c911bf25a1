#!/usr/bin/env python3
"""`crm import contacts` of a 100,000-row CSV against `sqlite-utils insert --csv`, same run.

1. Times `sqlite-utils insert DB contacts FILE --csv` (no validation at all: the
   reference) and `crm import contacts FILE` (validation, normalisation, duplicate
   matching, change log, search index) on fresh databases; prints both, their ratio
   (goal <= 1.0x, at the very least <= 1.5x) and crm's peak RSS (memory must stay flat:
   the file is streamed).
2. During the crm import, a writer in another thread commits one row every 10 ms with
   its own connection (as the dashboard or cron would); prints its p50/p99/max wait
   (goal p99 <= 200 ms, max <= 1 s: commits are batches of at most 10,000 rows).

Input: gen_data.py's contacts.csv (Faker es_ES + en_US; `--csv FILE` to reuse one).
Output: `name value unit` lines on stdout; notes on stderr.
Run with the venv's python:  .venv/bin/python bench/import.py [--csv FILE]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TempDir, contacts_csv, crm_env, emit, entry_point, init_db, note  # noqa: E402

GOAL_RATIO, FLOOR_RATIO = 1.0, 1.5


def timed_child(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Run a command; return (seconds, exit status, peak RSS in KiB of that child)."""
    with open(os.devnull, "w") as devnull:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t0
    err = p.stderr.read().decode() if p.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 11):
        note(f"FAIL: {' '.join(cmd)} exited {code}\n{err[-2000:]}")
        sys.exit(1)
    if err.strip():
        note(err.strip().splitlines()[-1])
    return secs, code, usage.ru_maxrss


class Writer(threading.Thread):
    """Commits one row every 10 ms on its own connection and records how long each waited."""

    def __init__(self, db: Path):
        super().__init__(daemon=True)
        self.db, self.waits, self.stop = db, [], threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        n = 0
        while not self.stop.is_set():
            n += 1
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, '1', '2026-01-01T00:00:00Z')",
                (f"bench.writer.{n}",),
            )
            conn.execute("COMMIT")
            self.waits.append(time.perf_counter() - t0)
            time.sleep(0.01)
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--csv", metavar="FILE", help="a contacts.csv from gen_data.py")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--batch", type=int, help="crm import --batch (default: crm's own)")
    a = ap.parse_args()
    crm, su = entry_point("crm"), entry_point("sqlite-utils")
    with TempDir("crm-bench-import-", keep=a.keep) as tmp:
        src = contacts_csv(tmp, a.contacts, a.seed, a.csv)
        rows = sum(1 for _ in open(src, encoding="utf-8")) - 1
        emit("rows", rows, "rows")

        ref_db = tmp / "ref.db"
        ref, _, ref_rss = timed_child([str(su), "insert", str(ref_db), "contacts", str(src), "--csv"],
                                      dict(os.environ))  # fmt: skip
        emit("sqlite_utils_insert", ref, "s")
        emit("sqlite_utils_rows_per_s", rows / ref, "rows/s")

        db = tmp / "crm.db"
        env = crm_env(tmp, db)
        init_db(env)
        writer = Writer(db)
        writer.start()
        secs, code, rss = timed_child(
            [str(crm), "import", "contacts", str(src), "--rejects", str(tmp / "rejects.csv"),
             *(["--batch", str(a.batch)] if a.batch else [])],
            env,
        )  # fmt: skip
        writer.stop.set()
        writer.join()
        emit("crm_import", secs, "s")
        emit("crm_import_rows_per_s", rows / secs, "rows/s")
        emit("crm_import_exit", code, "code")
        emit("crm_import_over_sqlite_utils", secs / ref, "x")
        emit("crm_import_peak_rss", rss / 1024, "MiB")
        emit("sqlite_utils_peak_rss", ref_rss / 1024, "MiB")
        waits = sorted(writer.waits)
        if waits:
            p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
            emit("writer_commits", len(waits), "commits")
            emit("writer_wait_p50", statistics.median(waits) * 1000, "ms")
            emit("writer_wait_p99", p99 * 1000, "ms")
            emit("writer_wait_max", waits[-1] * 1000, "ms")
        with sqlite3.connect(db) as c:
            emit(
                "contacts_stored", c.execute("SELECT count(*) FROM contacts").fetchone()[0], "rows"
            )
        ratio = secs / ref
        verdict = "ok  " if ratio <= GOAL_RATIO else ("near" if ratio <= FLOOR_RATIO else "OVER")
        note(
            f"{verdict} crm import / sqlite-utils insert = {ratio:.2f}x (goal <= {GOAL_RATIO}x, floor {FLOOR_RATIO}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
