#!/usr/bin/env python3
"""crm dump and crm load on 100,000 contacts and 1,000,000 activities: times and sizes.

1. The database: a copy of --large-db FILE (a seeded database, e.g. bench/reports.py --keep's
   bench.db; the original is only read), else seeded as bench/reports.py seeds it (contacts,
   1,000,000 activities, deals with history, orders, tickets, visits; --quick: 10,000
   contacts, the rest scaled).
2. Times in-process through the domain layer (`domain.dump`), best of --runs:
   - dump_stream: the whole database to one JSON Lines file;
   - dump_dir: into a new directory, then again over it unchanged (no file rewritten);
   - load: the stream into a new database, and the directory into another;
   - the loaded database dumped again must give the same bytes (else FAIL, exit 1).
3. Sizes: the database, the stream, the directory, the loaded database.
Output: `name value unit` lines on stdout; notes on stderr.
Run with the venv's python:  .venv/bin/python bench/dump.py [--large-db FILE] [--quick]
"""

from __future__ import annotations

import argparse
import filecmp
import math
import shutil
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


def seed(tmp: Path, a) -> Path:
    from reports import enrich
    from timeline import data_dir, seed_rest

    data = data_dir(tmp, a.data, a.contacts, a.activities, a.seed)
    if a.quick:
        from dash import subset_activities

        subset = subset_activities(data, tmp / "subset", a.contacts, a.activities)
        (subset / "contacts.csv").symlink_to((data / "contacts.csv").resolve())
        data = subset
    rows = read_rows(data / "contacts.csv", a.contacts)
    db = tmp / "bench.db"
    env = crm_env(tmp, db)
    init_db(env)
    bulk_add(rows, tmp, env)
    seed_rest(db, data, len(rows), a.deals, a.followups)
    enrich(db, a.orders, a.tickets, a.visits)
    return db


def size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


def timed(fn, runs: int, before=None) -> float:
    best = math.inf
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    from reports import add_seed_args

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_args(ap)
    ap.add_argument("--seed", type=int, default=42, help="gen_data.py's seed")
    ap.add_argument("--data", metavar="DIR", help="contacts.csv + activities.csv from gen_data.py")
    ap.add_argument("--runs", "-n", type=int, default=1, help="timed runs per case (best kept)")
    ap.add_argument("--large-db", metavar="FILE", help="a seeded database to copy (not changed)")
    ap.add_argument("--quick", action="store_true", help="10,000 contacts, the rest scaled")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    if a.quick:
        k = 10_000 / a.contacts
        a.contacts = 10_000
        for attr in ("activities", "deals", "followups", "orders", "tickets", "visits"):
            setattr(a, attr, math.ceil(getattr(a, attr) * k))

    with TempDir("crm-bench-dump-", keep=a.keep) as tmp:
        if a.large_db:
            src = Path(a.large_db).resolve()
            if not src.is_file():
                note(f"FAIL: no database at {src}")
                return 2
            db_path = tmp / "bench.db"
            shutil.copyfile(src, db_path)
        else:
            t0 = time.perf_counter()
            db_path = seed(tmp, a)
            note(f"seeded in {time.perf_counter() - t0:.0f} s")
        use_env_in_process(crm_env(tmp, db_path))

        from crm_cli.domain import dump
        from crm_cli.storage import open_db

        db = open_db(db_path)  # applies pending migrations (not timed)
        counts = {
            t: db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("contacts", "activities", "activity_participants", "orders", "changes")
        }
        for t, n in counts.items():
            emit(f"db_{t}", n, "rows")
        stream, d = tmp / "dump.jsonl", tmp / "dump"
        res = {}

        def do_stream():
            res["stream"] = dump.dump_file(db, stream)

        emit("dump_stream", timed(do_stream, a.runs), "s")
        emit("dump_rows", res["stream"].rows, "rows")
        emit("dump_dir_first", timed(lambda: dump.dump_dir(db, d), a.runs,
                                     lambda: shutil.rmtree(d, ignore_errors=True)), "s")  # fmt: skip

        def again():
            res["again"] = dump.dump_dir(db, d)

        emit("dump_dir_unchanged", timed(again, a.runs), "s")
        emit("dump_dir_unchanged_files_written", len(res["again"].changed), "files")
        db.close()
        loaded, loaded_dir = tmp / "loaded.db", tmp / "loaded-dir.db"

        def clear(p):
            return lambda: [Path(f"{p}{s}").unlink(missing_ok=True) for s in ("", "-wal", "-shm")]

        emit(
            "load_stream", timed(lambda: dump.load(str(stream), loaded), a.runs, clear(loaded)), "s"
        )
        emit(
            "load_dir", timed(lambda: dump.load(str(d), loaded_dir), a.runs, clear(loaded_dir)), "s"
        )
        for name, p in (("db", db_path), ("stream", stream), ("dir", d), ("loaded_db", loaded)):
            emit(f"size_{name}", round(size(p) / 2**20, 1), "MiB")
        again_db = open_db(loaded)
        dump.dump_file(again_db, tmp / "again.jsonl")
        again_db.close()
        same = filecmp.cmp(stream, tmp / "again.jsonl", shallow=False)
        emit("dump_load_dump_identical", int(same), "bool")
        if not same:
            note("FAIL: dump -> load -> dump changed the bytes")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
