#!/usr/bin/env python3
"""Start-up time of `crm` against `sqlite-utils --version`, timed in the same run.

Times, best of N wall-clock runs through the venv's entry points:

    sqlite-utils --version                    (the reference)
    crm --version
    crm contact list --json --limit 50        on an empty database
    crm contact list --json --limit 50        on a 100,000-contact database

and prints each in ms with its ratio to the reference (goal: <= 1.2x), whether the
big database is slower than the empty one, the 10 slowest cumulative imports of
`crm_cli.cli` (stderr), and FAILs (exit 1) if `crm contact list` loads a module that
must stay lazy (textual, email_validator, phonenumbers, dateutil, sqlite_utils).

Output: `name value unit` lines on stdout; notes, import times and verdicts on stderr.
Run with the venv's python:  .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    TempDir,
    bulk_add,
    contacts_csv,
    crm_env,
    emit,
    entry_point,
    init_db,
    note,
    read_rows,
)

GOAL_RATIO = 1.2
LIST_ARGS = ["contact", "list", "--json", "--limit", "50"]
LAZY = ("textual", "email_validator", "phonenumbers", "dateutil", "sqlite_utils")

PROBE = """
import contextlib, io, sys
import crm_cli.cli
out = io.StringIO()
code = None
try:
    with contextlib.redirect_stdout(out):
        code = crm_cli.cli.app(sys.argv[1:], standalone_mode=False)
except SystemExit as e:
    code = e.code
print("@@exit", code)
print("@@stdout", len(out.getvalue()))
for name in sorted(sys.modules):
    print("@@module", name)
"""


def run_ok(cmd: list[str], env: dict[str, str]) -> None:
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        note(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr[-3000:]}")
        sys.exit(1)


def time_commands(cmds: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """Best wall-clock seconds per command; rounds interleave the commands so drift hits all alike."""
    for cmd, env in cmds.values():  # warm-up (and a check that each one works)
        run_ok(cmd, env)
    best = {k: float("inf") for k in cmds}
    with open(os.devnull, "w") as devnull:
        for _ in range(runs):
            for k, (cmd, env) in cmds.items():
                t0 = time.perf_counter()
                r = subprocess.run(cmd, stdout=devnull, stderr=devnull, env=env)
                dt = time.perf_counter() - t0
                if r.returncode != 0:
                    note(f"FAIL: {' '.join(cmd)} exited {r.returncode} while timing")
                    sys.exit(1)
                best[k] = min(best[k], dt)
    return best


def import_times(env: dict[str, str], top: int = 10) -> float:
    """Print the slowest cumulative imports of crm_cli.cli to stderr; return its own cumulative ms."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import crm_cli.cli"],
        capture_output=True,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        note(f"FAIL: import crm_cli.cli failed\n{r.stderr[-3000:]}")
        sys.exit(1)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    rows.sort(reverse=True)
    note(f"\nslowest {top} cumulative imports of crm_cli.cli (python -X importtime, one run):")
    note(f"  {'cumulative ms':>13} {'self ms':>8}  depth  module")
    for cum, self_, depth, name in rows[:top]:
        note(f"  {cum / 1000:13.1f} {self_ / 1000:8.1f}  {depth:5d}  {name}")
    note("")
    total = next((cum for cum, _, _, name in rows if name == "crm_cli.cli"), 0)
    return total / 1000


def lazy_check(env: dict[str, str]) -> list[str]:
    """Run `contact list` in-process and return the must-stay-lazy modules it loaded."""
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *LIST_ARGS], capture_output=True, text=True, env=env
    )
    if r.returncode != 0 or "@@exit" not in r.stdout:
        note(f"FAIL: the sys.modules probe failed (exit {r.returncode})\n{r.stderr[-3000:]}")
        sys.exit(1)
    code = r.stdout.split("@@exit ", 1)[1].split("\n", 1)[0]
    if code not in ("0", "None"):
        note(f"FAIL: crm {' '.join(LIST_ARGS)} returned {code} in the probe\n{r.stderr[-3000:]}")
        sys.exit(1)
    mods = [ln.split(" ", 1)[1] for ln in r.stdout.splitlines() if ln.startswith("@@module ")]
    emit("list_modules_loaded", len(mods), "modules")
    return sorted({m.split(".")[0] for m in mods if m.split(".")[0] in LAZY})


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Time crm start-up against sqlite-utils --version (best of N) and check lazy imports.",
        epilog="Prints `name value unit` lines; exits 1 if a must-stay-lazy module is loaded by contact list.",
    )
    ap.add_argument(
        "--runs",
        "-n",
        type=int,
        default=15,
        help="timed runs per command (best is kept; default 15)",
    )
    ap.add_argument(
        "--contacts", type=int, default=100_000, help="size of the big database (default 100000)"
    )
    ap.add_argument("--seed", type=int, default=42, help="gen_data.py seed (default 42)")
    ap.add_argument(
        "--csv",
        metavar="FILE",
        help="use this contacts.csv from gen_data.py instead of generating one",
    )
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="run with PYTHONDONTWRITEBYTECODE=1 (crm_cli compiled from source each start) "
                    "instead of a .pyc cache for every module in the temp dir")  # fmt: skip
    ap.add_argument(
        "--keep", action="store_true", help="keep the temp dir (its path goes to stderr)"
    )
    a = ap.parse_args()

    crm, su = str(entry_point("crm")), str(entry_point("sqlite-utils"))
    with TempDir("crm-bench-startup-", keep=a.keep) as tmp:
        empty_db, big_db = tmp / "empty.db", tmp / "big.db"
        pyc = not a.no_bytecode_cache
        env_empty, env_big = (
            crm_env(tmp, empty_db, bytecode_cache=pyc),
            crm_env(tmp, big_db, bytecode_cache=pyc),
        )
        note(
            f"bytecode: {'.pyc cache for all modules in the temp dir' if pyc else 'PYTHONDONTWRITEBYTECODE=1'}"
        )
        init_db(env_empty)

        rows = read_rows(contacts_csv(tmp, a.contacts, a.seed, a.csv))
        secs, _ = bulk_add(rows, tmp, env_big)
        note(f"loaded {len(rows)} contacts with one crm contact add --from-ndjson in {secs:.1f} s")
        emit("load_contacts", secs, "s")
        size = a.contacts if not a.csv else len(rows)
        tag = "100k" if size == 100_000 else str(size)

        best = time_commands(
            {
                "sqlite_utils_version": ([su, "--version"], env_empty),
                "crm_version": ([crm, "--version"], env_empty),
                "crm_list_empty": ([crm, *LIST_ARGS], env_empty),
                f"crm_list_{tag}": ([crm, *LIST_ARGS], env_big),
            },
            a.runs,
        )
        ref = best["sqlite_utils_version"]
        emit("sqlite_utils_version", ref * 1000, "ms")
        verdicts = []
        for k in ("crm_version", "crm_list_empty", f"crm_list_{tag}"):
            ratio = best[k] / ref
            emit(k, best[k] * 1000, "ms")
            emit(f"{k}_ratio", ratio, "x")
            verdicts.append(
                f"{'ok  ' if ratio <= GOAL_RATIO else 'OVER'} {k}: {ratio:.2f}x sqlite-utils --version (goal <= {GOAL_RATIO}x)"
            )
        slower = best[f"crm_list_{tag}"] - best["crm_list_empty"]
        emit(f"crm_list_{tag}_minus_empty", slower * 1000, "ms")
        emit(f"crm_list_{tag}_slower_than_empty", "yes" if slower > 0 else "no", "bool")
        verdicts.append(
            f"{tag} database is {'slower' if slower > 0 else 'not slower'} than the empty one "
            f"({slower * 1000:+.1f} ms, {best[f'crm_list_{tag}'] / best['crm_list_empty']:.2f}x)"
        )

        emit("import_crm_cli_cli", import_times(env_empty), "ms")
        loaded = lazy_check(env_big)
        emit("list_lazy_modules_loaded", len(loaded), "modules")
        for v in verdicts:
            note(v)
        if loaded:
            note(
                f"FAIL: crm {' '.join(LIST_ARGS)} loaded {', '.join(loaded)} (must stay lazy: {', '.join(LAZY)})"
            )
            return 1
        note(f"ok   crm {' '.join(LIST_ARGS)} loads none of {', '.join(LAZY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
