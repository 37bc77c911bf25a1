#!/usr/bin/env python3
"""crm doctor on 100,000 contacts, 1,000,000 activities, 50,000 deals: each check's time.

1. A seeded database: a copy of --large-db FILE (read with immutable=1 and copied with
   VACUUM INTO, so the original is never touched), else bench/reports.py's seeding.
   On it, with plain SQL in one transaction (seed data, not commands), a few of each
   problem the seeding does not make by itself: 200 invalid addresses, 100 deals with
   neither contact nor organization, 100 activities with nobody on them, 50 follow-ups
   pointing at a deleted contact, 300 organizations nothing refers to; and a draft email
   campaign to the segment 'stage:lead' (every seeded contact's consent is unknown, so
   the consent check reads a large segment). The seeding itself has ~45,000 phones not
   in E.164 form, stale deals, overdue follow-ups and tickets past due.
2. Times each check in-process (`doctor.run(db, [CHECK])`, best of --runs after a
   warm-up), then all of them together, then `crm doctor --json` end to end once.
   The clock is the data's "today", CRM_NOW=2026-01-01T09:00:00Z.

Output: `name value unit` lines (doctor_CHECK ms, findings) on stdout.

    python bench/doctor.py [--large-db FILE] [--runs N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    TempDir,
    best_of,
    bulk_add,
    crm_env,
    emit,
    init_db,
    note,
    read_rows,
    use_env_in_process,
)

NOW = "2026-01-01T09:00:00Z"


def seed(tmp: Path, large_db: str | None) -> Path:
    db = tmp / "bench.db"
    if large_db:
        src = Path(large_db).resolve()
        if not src.is_file():
            note(f"FAIL: no database at {src}")
            sys.exit(2)
        conn = sqlite3.connect(f"file:{src}?immutable=1", uri=True)
        conn.execute("VACUUM INTO ?", (str(db),))
        conn.close()
        return db
    from reports import enrich
    from timeline import data_dir, seed_rest

    data = data_dir(tmp, None, 100_000, 1_000_000, 42)
    env = crm_env(tmp, db)
    init_db(env)
    rows = read_rows(data / "contacts.csv", 100_000)
    bulk_add(rows, tmp, env)
    seed_rest(db, data, len(rows), 50_000, 25_000)
    enrich(db, 200_000, 20_000, 100_000)
    return db


def plant(db_path: Path) -> None:
    """A few of each problem the seeding does not make, and a draft email campaign."""
    from crm_cli.storage import open_db

    open_db(db_path).close()  # migrations first (a copied database may be older)
    c = sqlite3.connect(db_path, isolation_level=None)
    c.execute("PRAGMA foreign_keys = OFF")
    c.execute("BEGIN")
    at = NOW
    c.execute("UPDATE emails SET value = value || '.' WHERE id IN"
              " (SELECT id FROM emails ORDER BY id DESC LIMIT 200)")  # fmt: skip
    c.execute("UPDATE deals SET contact_id = NULL, org_id = NULL WHERE id IN"
              " (SELECT id FROM deals ORDER BY id DESC LIMIT 100)")  # fmt: skip
    c.execute("DELETE FROM activity_participants WHERE activity_id IN (SELECT id FROM"
              " activities WHERE org_id IS NULL AND deal_id IS NULL AND ticket_id IS NULL"
              " ORDER BY id DESC LIMIT 100)")  # fmt: skip
    c.execute("UPDATE followups SET contact_id = 999999999 WHERE id IN"
              " (SELECT id FROM followups ORDER BY id DESC LIMIT 50)")  # fmt: skip
    for i in range(300):
        c.execute("INSERT INTO orgs (name, name_fold, created_at, updated_at) VALUES (?, ?, ?, ?)",
                  (f"Doctor Empty {i}", f"doctor empty {i}", at, at))  # fmt: skip
    sid = c.execute("INSERT INTO segments (name, filter, created_at, updated_at)"
                    " VALUES ('doctor leads', 'stage:lead', ?, ?)", (at, at)).lastrowid  # fmt: skip
    c.execute("INSERT INTO campaigns (name, channel, segment_id, subject, body_template,"
              " status, created_at, updated_at) VALUES ('doctor draft', 'email', ?, 'Hi',"
              " 'Hi', 'draft', ?, ?)", (sid, at, at))  # fmt: skip
    c.execute("COMMIT")
    c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large-db", metavar="FILE", help="a seeded database to copy (read only)")
    ap.add_argument("--runs", "-n", type=int, default=3, help="timed runs per check (best kept)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    with TempDir("crm-bench-doctor-", keep=a.keep) as tmp:
        t0 = time.perf_counter()
        db_path = seed(tmp, a.large_db)
        plant(db_path)
        note(f"database ready in {time.perf_counter() - t0:.0f} s")
        env = crm_env(tmp, db_path)
        (Path(env["CRM_CONFIG_DIR"]) / "config.toml").write_text('[time]\nzone = "Europe/Madrid"\n')
        env["CRM_NOW"] = NOW
        use_env_in_process(env)
        os.environ["CRM_NOW"] = NOW

        from crm_cli.domain import doctor
        from crm_cli.storage import open_db

        db = open_db(db_path)
        for table in ("contacts", "activities", "deals", "phones", "emails"):
            emit(
                f"db_{table}",
                db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                "rows",
            )
        for check in doctor.CHECKS:
            found = {}

            def one(check=check, found=found):
                found["n"] = doctor.run(db, [check]).total

            secs = best_of(one, a.runs)
            emit(f"doctor_{check}", secs * 1000, "ms")
            emit(f"doctor_{check}_findings", found["n"], "findings")
        secs = best_of(lambda: doctor.run(db), a.runs)
        emit("doctor_all", secs * 1000, "ms")
        db.close()
        doctor_bin = [sys.executable, "-c", "import sys; from crm_cli import cli; "
                      "cli.COMMANDS.setdefault('doctor', ('crm_cli.commands.doctor', 'doctor_cmd'));"
                      " sys.argv[0] = 'crm'; cli.main()"]  # fmt: skip
        t = time.perf_counter()
        r = subprocess.run(
            [*doctor_bin, "doctor", "--json"], env=env, capture_output=True, text=True
        )
        emit("doctor_cli_json", (time.perf_counter() - t) * 1000, "ms")
        if r.returncode not in (0, 10):
            note(f"FAIL: crm doctor exited {r.returncode}\n{r.stderr[-2000:]}")
            return 1
        counts = json.loads(r.stdout)["counts"]
        note("counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        note(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
