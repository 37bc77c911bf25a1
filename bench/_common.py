"""Shared helpers for bench/*.py: test data, the crm environment, timing, output.

Not a benchmark itself (the leading underscore keeps it apart); stdlib only.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's entry points, never a pyenv shim
GEN_DATA = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_data.py"


def emit(name: str, value: float | int | str, unit: str) -> None:
    """Print one figure as a `name value unit` line on stdout."""
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    print(f"{name} {value} {unit}", flush=True)


def note(*parts) -> None:
    """Print a note for people on stderr."""
    print(*parts, file=sys.stderr, flush=True)


def entry_point(name: str) -> Path:
    """The venv's console script next to sys.executable; exit clearly if it is missing."""
    p = BIN / name
    if not p.exists():
        note(f"FAIL: no '{name}' next to {sys.executable}; run this with the venv's python")
        sys.exit(2)
    return p


def crm_env(tmp: Path, db: Path, *, bytecode_cache: bool = True) -> dict[str, str]:
    """Environment for crm subprocesses: database, config and bytecode cache in the temp dir.

    With bytecode_cache (the default) .pyc files are written and read under
    tmp/pycache (PYTHONPYCACHEPREFIX), for every module alike, as an installed copy
    would have them; the source tree gets no __pycache__. Without it,
    PYTHONDONTWRITEBYTECODE=1: crm_cli (editable, no .pyc) compiles from source on
    every start while pip-installed packages keep their .pyc.
    """
    env = dict(os.environ)
    for k in (
        "PYTHONPROFILEIMPORTTIME",
        "CRM_NOW",
        "CRM_TRACE",
        "PYTHONPYCACHEPREFIX",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(k, None)
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    cfg = tmp / "config"
    cfg.mkdir(exist_ok=True)
    env.update(CRM_DB=str(db), CRM_CONFIG_DIR=str(cfg), CRM_USER="bench")
    return env


def use_env_in_process(env: dict[str, str]) -> None:
    """Apply the crm variables of env to this process (for in-process timings)."""
    for k in ("CRM_DB", "CRM_CONFIG_DIR", "CRM_USER"):
        os.environ[k] = env[k]


class TempDir:
    """A temp dir removed on exit unless keep is set."""

    def __init__(self, prefix: str, keep: bool = False):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))
        self.keep = keep

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        if self.keep:
            note(f"kept {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def require_faker() -> None:
    if importlib.util.find_spec("faker") is None:
        note(
            "FAIL: the test data generator needs Faker, which is not installed in this venv.\n"
            f"      Install it with:  {BIN / 'pip'} install Faker\n"
            "      (or pass --csv with a contacts.csv made by gen_data.py)"
        )
        sys.exit(2)


def contacts_csv(tmp: Path, n: int, seed: int, given: str | None) -> Path:
    """Generate contacts.csv into the temp dir (or use the one given); return its path."""
    if given:
        p = Path(given)
        if not p.is_file():
            note(f"FAIL: no file {p}")
            sys.exit(2)
        return p
    require_faker()
    if not GEN_DATA.is_file():
        note(f"FAIL: generator not found at {GEN_DATA}")
        sys.exit(2)
    out = tmp / "data"
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(GEN_DATA), "--contacts", str(n), "--activities", "0", "--seed", str(seed),
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        note(f"FAIL: gen_data.py exited {r.returncode}\n{r.stderr}")
        sys.exit(2)
    note(f"generated {n} contacts in {time.perf_counter() - t0:.1f} s")
    return out / "contacts.csv"


def read_rows(path: Path, limit: int | None = None) -> list[dict]:
    """The generator's rows: id,name,email,phone,company,tags,created,notes."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows[:limit] if limit is not None else rows


def to_record(row: dict, *, with_created: bool = True) -> dict:
    """One CSV row as a `crm contact add --from-ndjson` record."""
    rec: dict = {"name": row["name"], "emails": [row["email"]], "phones": [row["phone"]]}
    if row["company"]:
        rec["org"] = row["company"]
    rec["tags"] = [t for t in row["tags"].split(",") if t]
    if with_created and row["created"]:
        rec["created_at"] = row["created"]
    return rec


def write_ndjson(rows: list[dict], path: Path, *, with_created: bool = True) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(to_record(row, with_created=with_created), ensure_ascii=False))
            f.write("\n")
    return path


def bulk_add(
    rows: list[dict], tmp: Path, env: dict[str, str], *, label: str = "contacts"
) -> tuple[float, bool]:
    """Load rows with one `crm contact add --from-ndjson`; return (seconds, created_at kept).

    If crm refuses the created_at key, the records are written again without it and
    loaded once more (the note says so).
    """
    crm = entry_point("crm")
    for with_created in (True, False):
        nd = write_ndjson(rows, tmp / f"{label}.ndjson", with_created=with_created)
        with open(os.devnull, "w") as devnull:
            t0 = time.perf_counter()
            r = subprocess.run(
                [str(crm), "contact", "add", "--from-ndjson", str(nd)],
                stdout=devnull, stderr=subprocess.PIPE, text=True, env=env,
            )  # fmt: skip
            secs = time.perf_counter() - t0
        if r.returncode == 0:
            if not with_created:
                note("NOTE: crm refused the created_at key; the contacts were loaded without it")
            return secs, with_created
        refused = "created_at" in r.stderr or "unknown key" in r.stderr
        if with_created and refused:
            # add_many validates every record before writing any: nothing was written.
            note(f"NOTE: crm refused created_at ({r.stderr.strip()}); retrying without it")
            continue
        note(f"FAIL: crm contact add --from-ndjson exited {r.returncode}\n{r.stderr[-3000:]}")
        sys.exit(1)
    raise AssertionError("unreachable")


def init_db(env: dict[str, str]) -> None:
    """Create the database (migrations, no rows) in a subprocess with env."""
    r = subprocess.run(
        [sys.executable, "-c", "import os; from crm_cli.storage import open_db; open_db(os.environ['CRM_DB']).close()"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if r.returncode != 0:
        note(f"FAIL: cannot create an empty database\n{r.stderr[-3000:]}")
        sys.exit(1)


def best_of(fn: Callable[[], object], n: int, warmup: int = 1) -> float:
    """Best wall-clock seconds of n calls to fn after warmup calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
