"""bench/torture: the crash and concurrency campaign (issue 9).

1. **Kills.** A bulk import, a merge, an undo and a campaign send, each killed with
   SIGKILL at a random point (``--kills`` times each, 50 by default), each on a fresh copy
   of a seeded database. After every kill: ``crm db check`` passes (integrity, foreign
   keys, the search index, derived columns, and the change log accounting for every row),
   the operation is all-or-nothing where it is one transaction (merge, undo) or resumable
   where it commits in steps (import, send), and no campaign recipient received two
   messages. Then the operation is run again to the end and checked again.
2. **Together.** A dashboard-like writer (deal moves, follow-ups, logged calls, each its
   own short transaction, as ``crm dash`` does), ``crm remind`` from cron every second and
   ``crm import`` of fresh files run at once for ``--seconds`` (60): no error surfaces,
   every write the writer saw succeed is there, every imported row is there, and
   ``crm db check`` passes.
3. **Hostile strings.** Hypothesis drives 20 commands (contact add/edit/tag/show/list, org,
   deal add/list, log, follow-up, ticket, user, segment, campaign, search, timeline, report,
   export, history; as values and as filters) with the Big List of Naughty Strings from
   ``realdata/csv/salesforce-apex-recipes/Opportunities.csv`` and generated text: no
   traceback, every accepted value reads back as stored, and ``crm db check`` passes.

Prints ``name value unit`` lines (runs, kills, records checked, errors) and exits 1 if any
check failed. ``--quick`` is the fixed-seed sample pytest runs (tests/test_torture.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAUGHTY = (
    ROOT.parent / "shared" / "realdata" / "csv" / "salesforce-apex-recipes" / "Opportunities.csv"
)
KINDS = ("import", "merge", "undo", "send")


def emit(name: str, value, unit: str) -> None:
    print(f"{name} {value} {unit}", flush=True)


def note(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Failed(AssertionError):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


# ---------------------------------------------------------------- running crm


def env_for(tmp: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    cfg = tmp / "config"
    cfg.mkdir(exist_ok=True)
    env.update(CRM_DB=str(db), CRM_CONFIG_DIR=str(cfg), CRM_USER="torture",
               PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    return env


def crm(env: dict, *args: str, ok: tuple[int, ...] = (0,), timeout: float = 300):
    r = subprocess.run([sys.executable, "-m", "crm_cli", *args], env=env, capture_output=True,
                       text=True, timeout=timeout, cwd=env["CRM_CONFIG_DIR"])  # fmt: skip
    if r.returncode not in ok:
        raise Failed(f"crm {' '.join(args)[:120]} exited {r.returncode}: {r.stderr.strip()[:400]}")
    check("Traceback" not in r.stderr, f"crm {' '.join(args)[:80]} printed a traceback")
    return r


def spawn(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crm_cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=env["CRM_CONFIG_DIR"])  # fmt: skip


def db_check(env: dict) -> dict:
    r = crm(env, "db", "check", "--json", ok=(0, 10))
    report = json.loads(r.stdout)
    check(r.returncode == 0, f"crm db check found: {json.dumps(report.get('findings'))[:600]}")
    return report


def count(db: Path, sql: str, params=()) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def copy_db(src: Path, dst: Path) -> None:
    """A closed database's file (no -wal left) copied for one run."""
    shutil.copyfile(src, dst)


# ---------------------------------------------------------------- seeding


def people_csv(path: Path, n: int, start: int = 0) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "phone", "company", "tags"])
        for i in range(start, start + n):
            w.writerow([f"Person {i}", f"p{i}@example.com", f"+3461{i:07d}", f"Company {i % 97}",
                        "t"])  # fmt: skip
    return path


def seed_in_process(env: dict, fn) -> None:
    """Run fn(db) with the crm library on env's database (faster than many processes)."""
    saved = {k: os.environ.get(k) for k in ("CRM_DB", "CRM_CONFIG_DIR", "CRM_USER")}
    os.environ.update({k: env[k] for k in saved})
    try:
        from crm_cli.domain.session import open_session

        db = open_session(env["CRM_DB"], actor="torture", command="torture seed")
        db.after_commit = None
        try:
            fn(db)
        finally:
            db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Base:
    """A seeded database and what an operation on it should come to."""

    def __init__(self, kind: str, tmp: Path, size: int):
        self.kind, self.tmp, self.size = kind, tmp, size
        self.db = tmp / "base.db"
        self.env = env_for(tmp, self.db)
        getattr(self, f"_seed_{kind}")()

    def _seed_import(self):
        crm(self.env, "org", "add", "Seed Org")
        self.csv = people_csv(self.tmp / "people.csv", self.size)
        self.args = ("import", "contacts", str(self.csv), "--rejects", str(self.tmp / "r.csv"))

    def _seed_merge(self):
        n = self.size

        def seed(db):
            from crm_cli.domain import activities, contacts
            from crm_cli.storage.db import transaction

            a = contacts.add(db, "Ann Keep", emails=["ann@example.com"], tags=["a"])
            b = contacts.add(db, "Ann Dup", emails=["ann.dup@example.com"], tags=["b"])
            with transaction(db, "seed activities") as tx:
                for i in range(n):
                    activities.write(db, tx, "call", contact_ids=[a.id if i % 2 else b.id],
                                     subject=f"call {i}")  # fmt: skip
            self.keep, self.dup = a.id, b.id

        seed_in_process(self.env, seed)
        self.participants = count(self.db, "SELECT count(*) FROM activity_participants")
        self.args = ("contact", "merge", str(self.keep), str(self.dup), "--yes")

    def _seed_undo(self):
        crm(self.env, "org", "add", "Seed Org")
        crm(self.env, "import", "contacts", str(people_csv(self.tmp / "people.csv", self.size)),
            "--rejects", str(self.tmp / "r.csv"))  # fmt: skip
        self.args = ("undo",)

    def _seed_send(self):
        n = self.size
        crm(self.env, "org", "add", "Seed Org")
        crm(self.env, "import", "contacts", str(people_csv(self.tmp / "people.csv", n)),
            "--rejects", str(self.tmp / "r.csv"))  # fmt: skip
        crm(self.env, "segment", "add", "all", "tag:t")
        tpl = self.tmp / "t.txt"
        tpl.write_text("Hi {{ first_name | default('there') }}\n", encoding="utf-8")
        self.templ = tpl
        self.args = ()


# ---------------------------------------------------------------- the SMTP server


class Slow:
    """Accepts every message, noting it as soon as it has it, then takes a moment to
    answer: the window in which a kill leaves a delivered message unrecorded."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes

        mid = message_from_bytes(envelope.content)["Message-ID"]
        with self.lock:
            for r in envelope.rcpt_tos:
                self.received.append((r, str(mid)))
        await asyncio.sleep(0.01)
        return "250 OK"


def smtp_server():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Slow()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler, port


# ---------------------------------------------------------------- kills


class Stats:
    def __init__(self):
        self.runs = self.kills = self.mid = self.records = self.errors = 0
        self.in_doubt = self.checks = 0
        self.failures: list[str] = []


def _kill_after(proc: subprocess.Popen, delay: float) -> None:
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def kill_runs(kind: str, kills: int, size: int, seed: int, work: Path, st: Stats) -> None:
    rng = random.Random(f"{seed}:{kind}")
    home = work / f"base-{kind}"
    home.mkdir()
    base = Base(kind, home, size)
    server = handler = None
    if kind == "send":
        server, handler, port = smtp_server()
        Path(base.env["CRM_CONFIG_DIR"], "config.toml").write_text(
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n\n'
            '[campaign]\nfrom = "news@shop.example"\n'
            'unsubscribe_url = "https://shop.example/u/{token}"\n',
            encoding="utf-8",
        )
    # How long the operation's process takes, undisturbed, on a copy: kills land within it.
    probe = work / f"probe-{kind}"
    probe.mkdir()
    length = _one(kind, base, probe, rng, handler, st, delay=None)
    try:
        for i in range(kills):
            run = work / f"{kind}-{i}"
            run.mkdir()
            try:
                _one(kind, base, run, rng, handler, st, delay=rng.uniform(0.1, max(0.2, length)))
            except Failed as e:
                st.errors += 1
                st.failures.append(f"{kind} #{i}: {e}")
                note(f"FAIL {kind} #{i}: {e}")
            finally:
                shutil.rmtree(run, ignore_errors=True)
    finally:
        if server is not None:
            server.stop()
    note(f"{kind}: {kills} kills done ({length:.2f} s per undisturbed run)")


def _one(kind, base: Base, run: Path, rng, handler, st: Stats, delay) -> None:
    db = run / "crm.db"
    copy_db(base.db, db)
    env = env_for(run, db)
    config = Path(base.env["CRM_CONFIG_DIR"]) / "config.toml"
    if config.exists():
        shutil.copyfile(config, Path(env["CRM_CONFIG_DIR"]) / "config.toml")
    args = base.args
    name = None
    if kind == "send":
        name = f"c{rng.randrange(10**9)}"
        crm(env, "campaign", "add", name, "--segment", "all", "--subject", "s", "--template",
            str(base.templ))  # fmt: skip
        args = ("campaign", "send", name)
    st.runs += 1
    if delay is not None:
        before = len(handler.received) if handler else 0
        proc = spawn(env, *args)
        if kind == "send":  # start the clock when sending starts (start-up time varies)
            deadline = time.monotonic() + 30
            while len(handler.received) == before and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.003)
            delay = rng.uniform(0, 0.05 * base.size / 10)
        _kill_after(proc, delay)
        st.kills += 1
        killed_mid = proc.returncode == -signal.SIGKILL
        st.mid += killed_mid
        _after_kill(kind, base, env, db, handler, name, st)
    # Run it (again) to the end, and check again.
    return _finish(kind, base, env, db, handler, name, st)


def _after_kill(kind, base: Base, env, db: Path, handler, name, st: Stats) -> None:
    db_check(env)
    st.checks += 1
    n = base.size
    if kind == "import":
        got = count(db, "SELECT count(*) FROM contacts")
        check(0 <= got <= n, f"import left {got} contacts of {n}")
        st.records += got
    elif kind == "merge":
        alive = count(db, "SELECT count(*) FROM contacts")
        parts = count(db, "SELECT count(*) FROM activity_participants")
        check(alive in (1, 2), f"merge left {alive} contacts")
        check(parts == base.participants, f"merge lost activities: {parts} of {base.participants}")
        st.records += parts
    elif kind == "undo":
        got = count(db, "SELECT count(*) FROM contacts")
        check(got in (0, n), f"a killed undo left {got} of {n} contacts (half undone)")
        st.records += n
    elif kind == "send":
        st.records += _ledger_check(db, handler, name, st)


def _finish(kind, base: Base, env, db: Path, handler, name, st: Stats) -> float:
    """Run the operation (again) to its end and check the result; return how long it took."""
    n = base.size
    started = time.monotonic()
    if kind == "import":
        crm(env, *base.args)
        check(count(db, "SELECT count(*) FROM contacts") == n, "the re-run import lost rows")
        check(count(db, "SELECT count(DISTINCT value) FROM emails") == n, "duplicated rows")
    elif kind == "merge":
        if count(db, "SELECT count(*) FROM contacts") == 2:
            crm(env, *base.args)
        check(count(db, "SELECT count(*) FROM contacts") == 1, "the merge did not finish")
        check(count(db, "SELECT count(*) FROM activity_participants WHERE contact_id = ?",
                    (base.keep,)) == base.participants, "the merge lost activities")  # fmt: skip
    elif kind == "undo":
        if count(db, "SELECT count(*) FROM contacts"):
            crm(env, *base.args)
        check(count(db, "SELECT count(*) FROM contacts") == 0, "the undo did not finish")
    elif kind == "send":
        crm(env, "campaign", "send", name, ok=(0, 11))
        _ledger_check(db, handler, name, st, final=True)
    took = time.monotonic() - started
    db_check(env)
    st.checks += 1
    return took


def _ledger_check(db: Path, handler, name: str, st: Stats, final: bool = False) -> int:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT r.email, r.state, r.message_id FROM campaign_recipients r JOIN campaigns k"
            " ON k.id = r.campaign_id WHERE k.name = ?", (name,),
        ).fetchall()  # fmt: skip
    finally:
        conn.close()
    mids = {mid: (email, state) for email, state, mid in rows}
    with handler.lock:
        got: dict[str, int] = {}
        for _rcpt, mid in handler.received:
            if mid in mids:
                got[mid] = got.get(mid, 0) + 1
    for mid, (email, state) in mids.items():
        n = got.get(mid, 0)
        check(n <= 1, f"{email} received {n} messages")
        if state == "sent":
            check(n == 1, f"{email} is marked sent but never arrived")
        if state == "pending":
            check(n == 0, f"{email} arrived but is still pending")
        if n:
            check(state in ("sent", "sending"), f"{email} arrived but is {state}")
    if final:
        states = [s for _, s in mids.values()]
        check(states.count("pending") == 0, "the resumed send left recipients pending")
        st.in_doubt += states.count("sending")
    return len(rows)


# ---------------------------------------------------------------- together


WRITER = r"""
import json, os, random, sys, time
from crm_cli.domain import activities, deals, followups
from crm_cli.domain.session import open_session
from crm_cli.errors import CrmError
db = open_session(os.environ["CRM_DB"], actor="torture", command="torture writer")
rng = random.Random(1)
end = time.monotonic() + float(sys.argv[1])
done = {"followups": [], "calls": [], "moves": 0}
errors = []
stages = ["lead", "qualified", "proposal", "negotiation"]
deal_ids = [int(x) for x in sys.argv[2].split(",")]
while time.monotonic() < end:
    op = rng.randrange(3)
    try:
        if op == 0:
            f = followups.add(db, f"follow up {len(done['followups'])}", "tomorrow 9am")
            done["followups"].append(f.id)
        elif op == 1:
            a = activities.log(db, "call", deal=str(rng.choice(deal_ids)), subject="call")
            done["calls"].append(a.id)
        else:
            deals.move(db, rng.choice(deal_ids), rng.choice(stages))
            done["moves"] += 1
    except CrmError as e:
        errors.append(f"{type(e).__name__}: {e}")
    time.sleep(0.01)
print(json.dumps({"done": done, "errors": errors}))
"""


def together(seconds: float, work: Path, st: Stats) -> None:
    tmp = work / "together"
    tmp.mkdir()
    db = tmp / "crm.db"
    env = env_for(tmp, db)
    crm(env, "org", "add", "Seed Org")
    ids = [
        crm(env, "deal", "add", f"Deal {i}", "--amount", "1000").stdout.strip() for i in range(5)
    ]
    crm(env, "followup", "add", "due now", "--due", "-1h")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(seconds), ",".join(ids)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    end = time.monotonic() + seconds
    imported = reminded = 0
    problems: list[str] = []
    batch = 0
    while time.monotonic() < end:
        f = people_csv(tmp / f"batch{batch}.csv", 500, start=batch * 500)
        batch += 1
        r = subprocess.run([sys.executable, "-m", "crm_cli", "import", "contacts", str(f),
                            "--rejects", str(tmp / "r.csv")], env=env, capture_output=True,
                           text=True)  # fmt: skip
        if r.returncode != 0:
            problems.append(f"import exited {r.returncode}: {r.stderr.strip()[:200]}")
        else:
            imported += 500
        r = subprocess.run([sys.executable, "-m", "crm_cli", "remind"], env=env,
                           capture_output=True, text=True)  # fmt: skip
        if r.returncode not in (0, 10):
            problems.append(f"remind exited {r.returncode}: {r.stderr.strip()[:200]}")
        reminded += 1
    out, err = writer.communicate(timeout=seconds + 60)
    if writer.returncode != 0:
        problems.append(f"writer exited {writer.returncode}: {err.strip()[-400:]}")
        result = {"done": {"followups": [], "calls": [], "moves": 0}, "errors": []}
    else:
        result = json.loads(out)
    problems += result["errors"]
    done = result["done"]
    have_f = count(db, "SELECT count(*) FROM followups WHERE id IN (SELECT value FROM json_each(?))",
                   (json.dumps(done["followups"]),))  # fmt: skip
    have_c = count(db, "SELECT count(*) FROM activities WHERE id IN (SELECT value FROM json_each(?))",
                   (json.dumps(done["calls"]),))  # fmt: skip
    if have_f != len(done["followups"]) or have_c != len(done["calls"]):
        problems.append(f"lost writes: {have_f}/{len(done['followups'])} follow-ups, "
                        f"{have_c}/{len(done['calls'])} calls")  # fmt: skip
    contacts = count(db, "SELECT count(*) FROM contacts")
    if contacts != imported:
        problems.append(f"imported {imported} contacts but {contacts} are there")
    claims = count(db, "SELECT count(*) - count(DISTINCT item_kind || item_id || recipient_id || due_at)"
                       " FROM reminder_claims")  # fmt: skip
    if claims:
        problems.append(f"{claims} reminders claimed twice")
    try:
        db_check(env)
    except Failed as e:
        problems.append(str(e))
    writes = len(done["followups"]) + len(done["calls"]) + done["moves"]
    emit("together_seconds", seconds, "s")
    emit("together_writer_writes", writes, "writes")
    emit("together_imported", imported, "contacts")
    emit("together_remind_runs", reminded, "runs")
    emit("together_errors", len(problems), "errors")
    st.errors += len(problems)
    st.failures += [f"together: {p}" for p in problems]
    st.records += writes + imported


# ---------------------------------------------------------------- hostile strings


def naughty() -> list[str]:
    with open(NAUGHTY, newline="", encoding="utf-8") as f:
        return [r["description"] for r in csv.DictReader(f) if r.get("description")]


def hostile(examples: int, seed: int, work: Path, st: Stats) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hs
    from typer.testing import CliRunner

    tmp = work / "hostile"
    tmp.mkdir()
    env = env_for(tmp, tmp / "crm.db")
    saved = {k: os.environ.get(k) for k in ("CRM_DB", "CRM_CONFIG_DIR", "CRM_USER")}
    os.environ.update({k: env[k] for k in saved})
    from crm_cli.cli import app

    runner = CliRunner()
    strings = naughty()
    text = hs.one_of(hs.sampled_from(strings), hs.text(max_size=80))
    seen = {"runs": 0, "accepted": 0}
    problems: list[str] = []

    def run(*args: str):
        r = runner.invoke(app, list(args))
        seen["runs"] += 1
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            problems.append(
                f"crm {' '.join(args)[:100]!r}: {type(r.exception).__name__}: {r.exception}"
            )
        elif r.exit_code not in (0, 1, 2, 3):
            problems.append(f"crm {' '.join(args)[:100]!r} exited {r.exit_code}")
        elif "Traceback" in r.stderr:
            problems.append(f"crm {' '.join(args)[:100]!r} printed a traceback")
        return r

    run("contact", "add", "Anchor", "--email", "anchor@example.com")

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(text, text, text)
    def exercise(a: str, b: str, c: str):
        r = run("contact", "add", a, "--title", b, "--field", f"note={c}")
        if r.exit_code == 0:
            seen["accepted"] += 1
            cid = r.stdout.strip()
            shown = run("contact", "show", cid, "--json")
            if shown.exit_code == 0:
                got = json.loads(shown.stdout)
                want = unicodedata.normalize("NFC", b.strip())  # stored NFC, as typed
                if got["title"] is not None and got["title"] != want:
                    problems.append(f"title {b!r} came back as {got['title']!r}")
        run("contact", "list", a, "--json")
        run("search", a)
        run("org", "add", b)
        run("deal", "add", c, "--org", b)
        run("log", "note", a, "--contact", "anchor@example.com", "--body", c)
        run("followup", "add", b, "--due", "tomorrow", "--contact", "anchor@example.com")
        run("segment", "add", a, c)
        run("timeline", "anchor@example.com", b)
        run("contact", "edit", "anchor@example.com", "--title", a)
        run("contact", "tag", "anchor@example.com", c)
        run("ticket", "open", c, "--contact", "anchor@example.com")
        run("user", "add", b)
        run("campaign", "add", c, "--channel", "ad", "--notes", a)
        run("deal", "list", a, "--json")
        run("report", "pipeline", c, "--json")
        run("export", "contacts", b)
        run("history", "--limit", "1")

    try:
        exercise()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        db_check(env)
    except Failed as e:
        problems.append(str(e))
    emit("hostile_commands", seen["runs"], "runs")
    emit("hostile_accepted_contacts", seen["accepted"], "contacts")
    emit("hostile_errors", len(problems), "errors")
    st.errors += len(problems)
    st.failures += [f"hostile: {p}" for p in problems[:20]]
    st.runs += seen["runs"]


# ---------------------------------------------------------------- main


def campaign(*, kills: int, size: int, send_size: int, seconds: float, examples: int,
             seed: int, kinds=KINDS, keep: str | None = None) -> Stats:  # fmt: skip
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="crm-torture-"))
    work.mkdir(parents=True, exist_ok=True)
    st = Stats()
    started = time.monotonic()
    try:
        for kind in kinds:
            kill_runs(kind, kills, send_size if kind == "send" else size, seed, work, st)
        if seconds:
            together(seconds, work, st)
        if examples:
            hostile(examples, seed, work, st)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    emit("runs", st.runs, "runs")
    emit("kills", st.kills, "kills")
    emit("kills_mid_operation", st.mid, "kills")
    emit("db_checks_passed", st.checks, "checks")
    emit("records_checked", st.records, "records")
    emit("campaign_in_doubt", st.in_doubt, "recipients")
    emit("errors", st.errors, "errors")
    emit("wall", round(time.monotonic() - started, 1), "s")
    for f in st.failures[:30]:
        note(f"failure: {f}")
    return st


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=50, help="kills per operation (default 50)")
    ap.add_argument("--size", type=int, default=2000, help="rows an operation works on")
    ap.add_argument("--send-size", type=int, default=60, help="campaign recipients")
    ap.add_argument("--seconds", type=float, default=60, help="the together run (default 60)")
    ap.add_argument("--examples", type=int, default=200, help="hostile-string examples")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--only", choices=[*KINDS, "together", "hostile"], action="append")
    ap.add_argument("--quick", action="store_true", help="the small sample pytest runs")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    a = ap.parse_args(argv)
    if a.quick:
        a.kills, a.size, a.send_size, a.seconds, a.examples = 3, 600, 30, 5, 25
    only = a.only or [*KINDS, "together", "hostile"]
    st = campaign(kills=a.kills, size=a.size, send_size=a.send_size,
                  seconds=a.seconds if "together" in only else 0,
                  examples=a.examples if "hostile" in only else 0, seed=a.seed,
                  kinds=[k for k in KINDS if k in only], keep=a.keep)  # fmt: skip
    return 1 if st.errors else 0


if __name__ == "__main__":
    sys.exit(main())
