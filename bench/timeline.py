#!/usr/bin/env python3
"""Timelines, follow-ups and deal lists at 100,000 contacts, 1,000,000 activities, 50,000 deals.

1. Seeds a database: contacts through crm's own bulk path (`crm contact add
   --from-ndjson`, so they carry emails, phones, tags, orgs and the search index),
   then gen_data.py's activities (one participant each; kinds task/deal become
   notes), 50,000 deals over the default pipeline with their first move, and 25,000
   follow-ups (nine in ten done; the open ones due from a month ago to three months
   ahead), written with plain SQL in one transaction (seed data, not a command:
   it is not in the change log), and the per-contact summaries recomputed.
2. Times, in-process through the domain layer (best of N, ms): the busiest contact's
   timeline (50 newest, and all of it), the largest organization's timeline (50
   newest), `followup list` and `deal list stage:proposal --limit 50`; then the same
   commands end to end as subprocesses next to `crm --version` (start-up).
3. Prints EXPLAIN QUERY PLAN for each query on stderr: they must use indexes.

Goal: each under 50 ms of query time. Output: `name value unit` lines on stdout.
Run with the venv's python:  .venv/bin/python bench/timeline.py [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    GEN_DATA,
    TempDir,
    best_of,
    bulk_add,
    crm_env,
    emit,
    entry_point,
    init_db,
    note,
    read_rows,
    require_faker,
    use_env_in_process,
)

GOAL_MS = 50.0
NOW = "2026-01-01T09:00:00Z"  # the generated data's "today"
KIND = {"email": "email", "call": "call", "meeting": "meeting", "note": "note", "task": "note",
        "deal": "note"}  # fmt: skip


def data_dir(tmp: Path, given: str | None, contacts: int, activities: int, seed: int) -> Path:
    if given:
        d = Path(given)
        if not (d / "contacts.csv").is_file() or not (d / "activities.csv").is_file():
            note(f"FAIL: {d} needs contacts.csv and activities.csv from gen_data.py")
            sys.exit(2)
        return d
    require_faker()
    out = tmp / "data"
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(GEN_DATA), "--contacts", str(contacts), "--activities",
         str(activities), "--seed", str(seed), "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        note(f"FAIL: gen_data.py exited {r.returncode}\n{r.stderr}")
        sys.exit(2)
    note(f"generated data in {time.perf_counter() - t0:.1f} s")
    return out


def seed_rest(db_path: Path, data: Path, n_contacts: int, n_deals: int, n_followups: int) -> None:
    """Activities, deals and follow-ups with plain SQL (seed data), then the summaries."""
    from crm_cli.storage import open_db
    from crm_cli.storage.summaries import refresh_all

    rng = random.Random(7)
    db = open_db(db_path)
    conn = db.conn
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    actor = conn.execute("SELECT min(id) FROM users").fetchone()[0]
    acts, parts = [], []
    with open(data / "activities.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cid = int(row["contact_id"])
            if cid > n_contacts:
                continue
            at = row["occurred_at"][:19] + "Z"
            aid = int(row["id"])
            acts.append((aid, KIND.get(row["kind"], "note"), row["note"], at, actor, at, at))
            parts.append((aid, cid, at))
    conn.executemany(
        "INSERT INTO activities (id, kind, body, occurred_at, actor_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        acts,
    )
    conn.executemany(
        "INSERT INTO activity_participants (activity_id, contact_id, occurred_at) VALUES (?, ?, ?)",
        parts,
    )
    note(f"seeded {len(acts)} activities in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    orgs = dict(conn.execute("SELECT id, org_id FROM contacts"))
    stages = [r[0] for r in conn.execute("SELECT id FROM stages WHERE pipeline_id = 1")]
    deals, moves = [], []
    for i in range(1, n_deals + 1):
        cid = rng.randint(1, n_contacts)
        status = rng.choices(["open", "won", "lost"], [60, 20, 20])[0]
        created = (
            f"20{rng.randint(22, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00Z"
        )
        sid = rng.choice(stages)
        deals.append((i, f"Deal {i}", 1, sid, status, "price" if status == "lost" else None,
                      orgs.get(cid), cid, rng.randint(1000, 5_000_000), "EUR",
                      created[:10], actor, created, None if status == "open" else created,
                      created, created))  # fmt: skip
        moves.append((i, sid, status, created, actor))
    conn.executemany(
        "INSERT INTO deals (id, title, pipeline_id, stage_id, status, lost_reason, org_id,"
        " contact_id, amount_minor, currency, expected_close_date, owner_id, stage_entered_at,"
        " closed_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        deals,
    )
    conn.executemany(
        "INSERT INTO deal_moves (deal_id, to_stage_id, to_status, moved_at, actor_id)"
        " VALUES (?, ?, ?, ?, ?)",
        moves,
    )
    # Years of use: most follow-ups are done; the open ones run from a month overdue to
    # three months ahead.
    base = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    fus = []
    for i in range(1, n_followups + 1):
        done = i % 10 != 0
        days = rng.uniform(-700, -1) if done else rng.uniform(-30, 90)
        due = (base + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fus.append((f"Follow-up {i}", due, "done" if done else "open",
                    rng.randint(1, n_contacts), actor, NOW, NOW))  # fmt: skip
    conn.executemany(
        "INSERT INTO followups (text, due_at, status, contact_id, assignee_id, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        fus,
    )
    refresh_all(db)
    conn.execute("COMMIT")
    note(
        f"seeded {n_deals} deals, {n_followups} follow-ups, summaries in {time.perf_counter() - t0:.1f} s"
    )
    db.close()


def time_queries(db_path: Path, runs: int) -> dict[str, float]:
    from crm_cli.domain import activities, deals
    from crm_cli.storage import open_db

    db = open_db(db_path)
    busy, n_busy = db.conn.execute(
        "SELECT contact_id, count(*) FROM activity_participants GROUP BY contact_id"
        " ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    org, n_people = db.conn.execute(
        "SELECT org_id, count(*) FROM contacts WHERE org_id IS NOT NULL GROUP BY org_id"
        " ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    emit("busiest_contact_activities", n_busy, "rows")
    emit("largest_org_people", n_people, "rows")
    ms: dict[str, float] = {}

    def run(name, fn):
        statements: list[str] = []
        db.conn.set_trace_callback(statements.append)
        rows = fn()  # traced once: the plans below are of the SQL that really ran
        db.conn.set_trace_callback(None)
        ms[name] = best_of(fn, runs) * 1000
        emit(name, ms[name], "ms")
        emit(f"{name}_rows", len(rows), "rows")
        note(f"\nEXPLAIN QUERY PLAN for {name}:")
        for sql in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            note(f"  {' '.join(sql.split())[:160]}")
            for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
                note(f"      {row[3]}")

    run(
        "timeline_busy_contact_limit50",
        lambda: activities.timeline(db, ("contacts", busy), limit=50),
    )
    run("timeline_busy_contact_all", lambda: activities.timeline(db, ("contacts", busy)))
    run("timeline_busy_contact_kind_call_limit50",
        lambda: activities.timeline(db, ("contacts", busy), ["kind:call"], limit=50))  # fmt: skip
    run("timeline_largest_org_limit50", lambda: activities.timeline(db, ("orgs", org), limit=50))
    run("deal_list_stage_proposal_limit50",
        lambda: deals.list_deals(db, ["stage:proposal"], limit=50))  # fmt: skip
    from crm_cli.domain import followups

    # What `crm followup list` runs: overdue, today and the next 14 days; then everything.
    run("followup_list", lambda: followups.agenda(db, days=14))
    run("followup_list_all_open", lambda: followups.agenda(db))

    db.close()
    return ms


def end_to_end(env: dict[str, str], busy_args: list[tuple[str, list[str]]], runs: int) -> None:
    """Whole commands as subprocesses, beside `sqlite-utils --version` timed in the same run."""
    crm, su = entry_point("crm"), entry_point("sqlite-utils")

    def timed(cmd: list[str]) -> float:
        def call():
            r = subprocess.run(cmd, capture_output=True, env=env)
            if r.returncode not in (0, 10):
                note(f"FAIL: {' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-500:]}")
                sys.exit(1)

        return best_of(call, runs)

    ref = timed([str(su), "--version"])
    emit("cli_sqlite_utils_version", ref * 1000, "ms")
    for name, args in [("crm_version", ["--version"]), *busy_args]:
        secs = timed([str(crm), *args])
        emit(f"cli_{name}", secs * 1000, "ms")
        emit(f"cli_{name}_ratio", secs / ref, "x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--activities", type=int, default=1_000_000)
    ap.add_argument("--deals", type=int, default=50_000)
    ap.add_argument("--followups", type=int, default=25_000)
    ap.add_argument("--runs", "-n", type=int, default=20, help="timed runs (best kept)")
    ap.add_argument("--cli-runs", type=int, default=5, help="timed subprocess runs (best kept)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", metavar="DIR", help="contacts.csv + activities.csv from gen_data.py")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    with TempDir("crm-bench-timeline-", keep=a.keep) as tmp:
        data = data_dir(tmp, a.data, a.contacts, a.activities, a.seed)
        rows = read_rows(data / "contacts.csv", a.contacts)
        db = tmp / "bench.db"
        env = crm_env(tmp, db)
        init_db(env)
        secs, _ = bulk_add(rows, tmp, env)
        note(f"added {len(rows)} contacts in {secs:.1f} s")
        seed_rest(db, data, len(rows), a.deals, a.followups)
        use_env_in_process(env)
        os.environ["CRM_NOW"] = NOW
        ms = time_queries(db, a.runs)
        env["CRM_NOW"] = NOW
        busy = subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
             "'SELECT contact_id FROM activity_participants GROUP BY contact_id ORDER BY count(*) DESC"
             " LIMIT 1').fetchone()[0])", str(db)],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        end_to_end(env, [
            ("timeline_busy_contact_json_limit50", ["timeline", f"contact:{busy}", "--json", "--limit", "50"]),
            ("followup_list_json", ["followup", "list", "--json"]),
            ("deal_list_stage_proposal_json_limit50", ["deal", "list", "stage:proposal", "--json", "--limit", "50"]),
        ], a.cli_runs)  # fmt: skip
        worst = max(ms.values())
        note(
            f"\n{'ok  ' if worst < GOAL_MS else 'OVER'} slowest query {worst:.1f} ms (goal < {GOAL_MS} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
