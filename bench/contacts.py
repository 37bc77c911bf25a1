#!/usr/bin/env python3
"""Bulk insert of 100,000 contacts against validation alone, then filtered lists.

1. Times `crm contact add --from-ndjson FILE` end to end (one command, one change
   set) and, in the same run, a validation-only loop over the same rows in-process
   (crm_cli.domain.validate.email and .phone: email_validator without DNS,
   phonenumbers parse + is_valid_number); prints rows/s for both and their ratio
   insert/validation (goal >= 0.8).
2. On that database, times filtered lists through the domain layer in-process
   (open_db + contacts.list_contacts(..., limit=50)), best of N, in ms, with the
   tag+date case also as raw SQL (ids only, and the list's own SELECT without
   hydration) to separate query time from Python; goal for tag:vip created>2024-01-01:
   under 12 ms query time. EXPLAIN QUERY PLAN goes to stderr.

Output: `name value unit` lines on stdout; notes, plans and verdicts on stderr.
Run with the venv's python:  .venv/bin/python bench/contacts.py
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    TempDir,
    best_of,
    bulk_add,
    contacts_csv,
    crm_env,
    emit,
    init_db,
    note,
    read_rows,
    use_env_in_process,
)

GOAL_INSERT_RATIO = 0.8
GOAL_TAG_DATE_MS = 12.0
TAG_DATE = ["tag:vip", "created>2024-01-01"]
LISTS = {
    "list_tag_vip_created_gt_2024": TAG_DATE,
    "list_name_garc": ["name~garc"],
    "list_tag_vip_or_partner": ["tag:vip or tag:partner"],
    "list_not_customer_created_lt_2016": ["!tag:customer", "created<2016-01-01"],
    "list_org_ltd": ['org~"ltd"'],
}


def validate_rows(rows: list[dict]) -> None:
    """What the domain checks per contact: the email's syntax and the phone number."""
    from crm_cli.domain import validate

    email, phone = validate.email, validate.phone
    for r in rows:
        email(r["email"])
        phone(r["phone"])


def validate_rows_raw(rows: list[dict]) -> None:
    """The same checks calling the libraries directly (no crm_cli wrapper)."""
    import phonenumbers
    from email_validator import validate_email

    for r in rows:
        validate_email(r["email"], check_deliverability=False)
        try:
            phonenumbers.is_valid_number(phonenumbers.parse(r["phone"], None))
        except phonenumbers.NumberParseException:
            pass


def time_validation(rows: list[dict], runs: int) -> float:
    import email_validator  # noqa: F401  (import cost stays out of the loop)
    import phonenumbers  # noqa: F401

    secs = best_of(lambda: validate_rows(rows), runs, warmup=0)
    raw = best_of(lambda: validate_rows_raw(rows), runs, warmup=0)
    emit("validate_rows_per_s", len(rows) / secs, "rows/s")
    emit("validate_raw_libs_rows_per_s", len(rows) / raw, "rows/s")
    return secs


def time_lists(db_path: Path, runs: int) -> None:
    from crm_cli.domain import contacts, selectors
    from crm_cli.storage import contacts as store
    from crm_cli.storage import open_db

    db = open_db(db_path)
    ms = {}
    for name, args in LISTS.items():
        got = contacts.list_contacts(db, list(args), limit=50)
        ms[name] = (
            best_of(lambda a=args: contacts.list_contacts(db, list(a), limit=50), runs) * 1000
        )
        emit(name, ms[name], "ms")
        emit(f"{name}_rows", len(got), "rows")

    every = contacts.list_contacts(db, list(TAG_DATE))
    emit("list_tag_vip_created_gt_2024_nolimit", best_of(lambda: contacts.list_contacts(db, list(TAG_DATE)), runs) * 1000, "ms")  # fmt: skip
    emit("list_tag_vip_created_gt_2024_nolimit_rows", len(every), "rows")

    where, params = selectors.where_for(list(TAG_DATE), "contacts")
    compile_ms = best_of(lambda: selectors.where_for(list(TAG_DATE), "contacts"), runs) * 1000
    ids_sql = f"SELECT c.id FROM contacts c WHERE {where} LIMIT 50"
    count_sql = f"SELECT count(*) FROM contacts c WHERE {where}"
    raw_ms = best_of(lambda: db.conn.execute(ids_sql, params).fetchall(), runs) * 1000
    select_ms = best_of(lambda: store.select(db, where, params, limit=50), runs) * 1000
    count_ms = best_of(lambda: db.conn.execute(count_sql, params).fetchone(), runs) * 1000
    emit("tag_date_where_compile", compile_ms, "ms")
    emit("tag_date_raw_sql_ids_limit50", raw_ms, "ms")
    emit("tag_date_store_select_limit50", select_ms, "ms")
    emit("tag_date_count_sql", count_ms, "ms")
    emit("tag_date_count", db.conn.execute(count_sql, params).fetchone()[0], "rows")
    hydrate = ms["list_tag_vip_created_gt_2024"] - select_ms - compile_ms
    emit("tag_date_hydration", hydrate, "ms")

    note(f"\nWHERE for {' '.join(TAG_DATE)}:\n  {where}\n  params={params!r}")
    list_sql = f"{store._SELECT} WHERE {where} ORDER BY {store.order_by(None, store.SORTS, 'c.id')} LIMIT ? OFFSET ?"
    for title, sql, p in (
        ("raw ids query", ids_sql, params),
        ("contacts.list_contacts query (storage.contacts.select)", list_sql, [*params, 50, 0]),
    ):
        note(f"\nEXPLAIN QUERY PLAN ({title}):\n  {' '.join(sql.split())}")
        for row in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", p):
            note(f"  {row[0]:>3} {row[1]:>3}  {row[3]}")
    note("")
    verdict = "ok  " if ms["list_tag_vip_created_gt_2024"] < GOAL_TAG_DATE_MS else "OVER"
    note(
        f"{verdict} tag:vip created>2024-01-01 limit 50: {ms['list_tag_vip_created_gt_2024']:.2f} ms "
        f"(raw SQL {raw_ms:.2f} ms, list SELECT {select_ms:.2f} ms; goal < {GOAL_TAG_DATE_MS} ms)"
    )
    db.close()


def profile_insert(rows: list[dict], tmp: Path, top: int) -> None:
    """Profile the bulk add in-process (cProfile, cumulative) on a fresh database."""
    from _common import write_ndjson

    from crm_cli.cli import app

    nd = write_ndjson(rows, tmp / "profile.ndjson")
    pr = cProfile.Profile()
    out = io.StringIO()
    stdout = sys.stdout
    sys.stdout = io.StringIO()
    try:
        pr.enable()
        try:
            app(["contact", "add", "--from-ndjson", str(nd)], standalone_mode=False)
        except SystemExit:
            pass
        pr.disable()
    finally:
        sys.stdout = stdout
    pstats.Stats(pr, stream=out).sort_stats("cumulative").print_stats(top)
    note(
        f"\ncProfile of crm contact add --from-ndjson ({len(rows)} rows), top {top} by cumulative time:"
    )
    note(out.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Time a 100k-contact bulk insert against validation alone, then filtered lists.",
        epilog="Prints `name value unit` lines; notes, EXPLAIN QUERY PLAN and verdicts go to stderr.",
    )
    ap.add_argument("--contacts", type=int, default=100_000, help="rows to insert (default 100000)")
    ap.add_argument(
        "--runs",
        "-n",
        type=int,
        default=20,
        help="timed runs per list query (best kept; default 20)",
    )
    ap.add_argument(
        "--insert-runs",
        type=int,
        default=1,
        help="bulk inserts, each on a fresh database (default 1)",
    )
    ap.add_argument(
        "--validate-runs", type=int, default=3, help="validation passes (best kept; default 3)"
    )
    ap.add_argument("--seed", type=int, default=42, help="gen_data.py seed (default 42)")
    ap.add_argument(
        "--csv",
        metavar="FILE",
        help="use this contacts.csv from gen_data.py instead of generating one",
    )
    ap.add_argument("--profile", type=int, metavar="ROWS", default=0,
                    help="also cProfile the bulk add in-process on this many rows (stderr)")  # fmt: skip
    ap.add_argument(
        "--keep", action="store_true", help="keep the temp dir (its path goes to stderr)"
    )
    a = ap.parse_args()

    with TempDir("crm-bench-contacts-", keep=a.keep) as tmp:
        rows = read_rows(
            contacts_csv(tmp, a.contacts, a.seed, a.csv), a.contacts if a.csv else None
        )
        n = len(rows)

        best_insert = float("inf")
        for k in range(a.insert_runs):
            db = tmp / f"bench{k}.db"
            env = crm_env(tmp, db)
            init_db(env)  # the insert is timed on an existing (empty) database
            secs, kept = bulk_add(rows, tmp, env)
            note(
                f"insert run {k + 1}: {n} contacts in {secs:.2f} s{'' if kept else ' (without created_at)'}"
            )
            best_insert = min(best_insert, secs)
        emit("insert_s", best_insert, "s")
        emit("insert_rows_per_s", n / best_insert, "rows/s")

        use_env_in_process(env)
        val = time_validation(rows, a.validate_runs)
        ratio = (n / best_insert) / (n / val)
        emit("insert_over_validate_ratio", ratio, "x")
        note(
            f"{'ok  ' if ratio >= GOAL_INSERT_RATIO else 'UNDER'} insert/validation = {ratio:.2f} "
            f"(goal >= {GOAL_INSERT_RATIO})"
        )

        time_lists(db, a.runs)

        if a.profile:
            pdb = tmp / "profile.db"
            use_env_in_process(crm_env(tmp, pdb))
            init_db(crm_env(tmp, pdb))
            profile_insert(rows[: a.profile], tmp, 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
