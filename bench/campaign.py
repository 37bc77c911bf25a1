#!/usr/bin/env python3
"""`crm campaign send` to a 10,000-contact segment over SMTP (aiosmtpd) and into an outbox.

Seeds a temp database with gen_data.py's contacts through `crm import contacts`, all
tagged `bench` (every 40th opted out, every 50th other one without an email, so skips
happen), saves the segment `tag:bench`, and starts an aiosmtpd server in a thread of
this process on 127.0.0.1 (its handler counts messages and answers 250). Then, each
timed run on a fresh campaign (a campaign's list is frozen and sent once), best of N:

1. `crm campaign send --dry-run`: plans the list and renders every message, writes nothing;
2. `crm campaign send --outbox DIR --limit 0`: the freeze alone (plan, render check,
   one ledger row per person), stopping before the first message;
3. `crm campaign send --outbox DIR`: the whole send as a user runs it; the .eml files
   written must equal `sent`;
4. `crm campaign send --smtp`: the whole send; what the server received must equal `sent`.

References in the same run, on the very messages crm wrote into the outbox (built
before timing starts): smtplib sending them over one connection to the same server from
another process (the ceiling for SMTP: the same MAIL/RCPT/DATA round trips, no ledger),
and writing them as .eml files with fsync + rename (the ceiling for the outbox).
Prints msgs/s for all, the crm/reference time ratios, and crm's CPU seconds.

Output: `name value unit` lines on stdout; notes on stderr. Any count that does not add
up fails loudly (exit 1).
Run with the venv's python:  .venv/bin/python bench/campaign.py [--contacts N] [--runs N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TempDir, contacts_csv, crm_env, emit, entry_point, note, read_rows  # noqa: E402

OPT_OUT_EVERY, NO_EMAIL_EVERY = 40, 50
SENDER = "Shop <news@shop.example>"
ENVELOPE_FROM = "news@shop.example"
SUBJECT = "Spring offers for {{ first_name | default('you') }}"
TEMPLATE = """\
Hello {{ first_name | default('there') }},

{% if org is defined %}Everyone at {{ org }} gets 20% off this spring.
{% else %}You get 20% off this spring.
{% endif %}Our new catalogue is out: garden furniture, tools and seeds, with free
delivery on orders over 50 EUR until the end of the month.

{% if city is defined %}Visit our shop nearest to {{ city }}, or order online.
{% endif %}
Best regards,
The Shop team

--
You get this because you are a customer of the Shop.
Unsubscribe: {{ unsubscribe_url }}
"""
HTML = """\
<html><body>
<p>Hello {{ first_name | default('there') }},</p>
<p>{% if org is defined %}Everyone at {{ org }} gets{% else %}You get{% endif %} 20% off
this spring. Our new catalogue is out: garden furniture, tools and seeds.</p>
<p>Best regards,<br>The Shop team</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>
"""


class Counter:
    """aiosmtpd handler: counts recipients and bytes, answers 250 to everything."""

    def __init__(self):
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += len(envelope.rcpt_tos)
        self.bytes += len(envelope.content)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fail(msg: str) -> None:
    note(f"FAIL: {msg}")
    sys.exit(1)


def run_crm(env: dict[str, str], *args: str, codes=(0,)) -> subprocess.CompletedProcess:
    r = subprocess.run([str(entry_point("crm")), *args], env=env, capture_output=True, text=True)
    if r.returncode not in codes:
        fail(f"crm {' '.join(args)} exited {r.returncode}\n{r.stderr[-3000:]}")
    return r


def timed_crm(env: dict[str, str], tmp: Path, *args: str, codes=(0,)) -> tuple[float, float, dict]:
    """Run crm ... --json; return (wall seconds, child CPU seconds, parsed stdout)."""
    out = tmp / "stdout.json"
    with open(out, "wb") as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen([str(entry_point("crm")), *args], env=env, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t0
        fe.seek(0)
        err = fe.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in codes:
        fail(f"crm {' '.join(args)} exited {code}\n{err[-3000:]}")
    try:
        res = json.loads(out.read_text(encoding="utf-8"))
    except ValueError:
        fail(f"crm {' '.join(args)}: stdout is not JSON:\n{out.read_text()[:2000]}")
    return secs, usage.ru_utime + usage.ru_stime, res


# ---------------------------------------------------------------- seeding


def seed(tmp: Path, env: dict[str, str], a) -> dict[str, int]:
    """Import the contacts (tagged bench), save the segment; return the expected counts."""
    rows = read_rows(contacts_csv(tmp, a.contacts, a.seed, a.csv), a.contacts)
    src = tmp / "bench-contacts.csv"
    want = {"contacts": len(rows), "opted_out": 0, "no_email": 0}
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "email", "tags", "consent"])
        for i, r in enumerate(rows, 1):
            consent, email = "granted", r["email"]
            if i % OPT_OUT_EVERY == 0:
                consent = "opted_out"
                want["opted_out"] += 1
            elif i % NO_EMAIL_EVERY == 0:
                email = ""
                want["no_email"] += 1
            tags = ";".join(["bench", *(t for t in r["tags"].split(",") if t)])
            w.writerow([r["name"], email, tags, consent])
    want["to_send"] = want["contacts"] - want["opted_out"] - want["no_email"]
    t0 = time.perf_counter()
    run_crm(env, "import", "contacts", str(src), "--rejects", str(tmp / "rejects.csv"),
            "--on-duplicate", "create")  # fmt: skip
    note(f"imported {len(rows)} contacts in {time.perf_counter() - t0:.1f} s")
    if (tmp / "rejects.csv").exists() and (tmp / "rejects.csv").stat().st_size > 0:
        fail(f"the import rejected rows: see {tmp / 'rejects.csv'} (use --keep DIR)")
    run_crm(env, "segment", "add", "bench", "tag:bench")
    (tmp / "subject.txt").write_text(SUBJECT, encoding="utf-8")
    (tmp / "body.txt").write_text(TEMPLATE, encoding="utf-8")
    (tmp / "body.html").write_text(HTML, encoding="utf-8")
    return want


def write_config(env: dict[str, str], port: int) -> None:
    (Path(env["CRM_CONFIG_DIR"]) / "config.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n\n'
        f'[campaign]\nfrom = "{SENDER}"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n',
        encoding="utf-8",
    )


def add_campaign(env: dict[str, str], tmp: Path, name: str, html: bool) -> None:
    run_crm(env, "campaign", "add", name, "--segment", "bench", "--subject", SUBJECT,
            "--template", str(tmp / "body.txt"),
            *(["--html", str(tmp / "body.html")] if html else []))  # fmt: skip


def check_send(res: dict, want: dict[str, int], what: str) -> None:
    skipped = res.get("skipped", {})
    got = (res["sent"], res["planned"], skipped.get("opted_out", 0), skipped.get("no_email", 0))
    exp = (want["to_send"], want["contacts"], want["opted_out"], want["no_email"])
    if got != exp:
        fail(f"{what}: (sent, planned, opted_out, no_email) = {got}, expected {exp}\n{res}")


# ---------------------------------------------------------------- references

# Runs in its own process, as crm does, so the client never shares a GIL with the server.
SMTP_REF = r"""
import smtplib, sys, time
from email import message_from_bytes
from email.policy import SMTP, default
port, src, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msgs = []
for line in open(src, encoding="utf-8"):
    path = line.rstrip("\n")
    raw = open(path, "rb").read()
    env, _, body = raw.partition(b"\r\nX-Envelope-To: ")
    to, _, body = body.partition(b"\r\n")
    m = message_from_bytes(body, policy=default)
    msgs.append((to.decode(), m.as_bytes(policy=SMTP)))
t0 = time.perf_counter()
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
for to, data in msgs:
    s.sendmail(sender, [to], data)
s.quit()
print(time.perf_counter() - t0)
"""


def smtp_reference(port: int, files: list[Path], tmp: Path) -> float:
    lst = tmp / "ref-files.txt"
    lst.write_text("".join(f"{p}\n" for p in files), encoding="utf-8")
    r = subprocess.run([sys.executable, "-c", SMTP_REF, str(port), str(lst), ENVELOPE_FROM],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        fail(f"smtplib reference exited {r.returncode}\n{r.stderr[-3000:]}")
    return float(r.stdout.strip())


def outbox_reference(blobs: list[tuple[str, bytes]], folder: Path) -> float:
    """Write each message aside, fsync, rename into place: what OutboxTransport must do."""
    folder.mkdir()
    t0 = time.perf_counter()
    for name, data in blobs:
        path = folder / name
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return time.perf_counter() - t0


def db_usage(env: dict[str, str]) -> tuple[int, int]:
    """(bytes in use in the database, rows in the change log), read through SQLite."""
    with sqlite3.connect(f"file:{env['CRM_DB']}?mode=ro", uri=True) as c:
        pages, free, size = (c.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))  # fmt: skip
        changes = c.execute("SELECT count(*) FROM changes").fetchone()[0]
    c.close()
    return (pages - free) * size, changes


def eml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


def check_message(path: Path) -> None:
    """One written message is personalised and carries the unsubscribe headers."""
    head = path.read_bytes().partition(b"\r\n\r\n")[0]
    for want in (b"Subject: Spring offers for ", b"List-Unsubscribe: <https://shop.example/u/",
                 b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"):  # fmt: skip
        if want not in head:
            fail(f"{path}: no {want.decode()!r} in the headers:\n{head.decode(errors='replace')}")


def profile_send(env: dict[str, str], tmp: Path, html: bool) -> None:
    """Profile one outbox send in a crm process; print the top functions to stderr."""
    import pstats

    add_campaign(env, tmp, "profile", html)
    out = tmp / "send.prof"
    r = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "crm_cli", "campaign", "send",
         "profile", "--outbox", str(tmp / "profile-out"), "--json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        fail(f"profiled send exited {r.returncode}\n{r.stderr[-3000:]}")
    note("profile of one outbox send (cProfile inflates Python-heavy code), by cumulative time:")
    pstats.Stats(str(out), stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    note(f"the profile is {out} (kept with --keep DIR)")


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=10_000, help="segment size (default 10000)")
    ap.add_argument(
        "--runs", "-n", type=int, default=2, help="timed runs per figure, best of (default 2)"
    )
    ap.add_argument("--seed", type=int, default=42, help="gen_data.py seed (default 42)")
    ap.add_argument("--csv", metavar="FILE", help="a contacts.csv from gen_data.py to reuse")
    ap.add_argument("--html", action="store_true", help="give the campaign an HTML part too")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (new or empty) and keep it")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="then profile one more outbox send (cProfile; top functions to stderr)",
    )
    a = ap.parse_args()
    if a.contacts < 1 or a.runs < 1:
        ap.error("--contacts and --runs must be at least 1")
    from aiosmtpd.controller import Controller

    entry_point("crm")
    if a.keep:
        keep = Path(a.keep).resolve()
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            ap.error(f"--keep {keep}: not empty")
        ctx = TempDir("crm-bench-campaign-", keep=True)
        os.rmdir(ctx.path)
        ctx.path = keep
    else:
        ctx = TempDir("crm-bench-campaign-")
    with ctx as tmp:
        env = crm_env(tmp, tmp / "crm.db")
        handler = Counter()
        port = free_port()
        server = Controller(handler, hostname="127.0.0.1", port=port)
        server.start()
        try:
            return bench(a, tmp, env, handler, port)
        finally:
            server.stop()


def bench(a, tmp: Path, env: dict[str, str], handler: Counter, port: int) -> int:
    write_config(env, port)
    want = seed(tmp, env, a)
    n = want["to_send"]
    emit("contacts", want["contacts"], "contacts")
    emit("recipients", n, "msgs")
    emit("skipped", want["contacts"] - n, "contacts")
    if a.html:
        note("campaigns carry an HTML part (--html)")

    # 1. dry run: plan + render every message, nothing written
    add_campaign(env, tmp, "dry", a.html)
    best = float("inf")
    for _ in range(a.runs):
        secs, _, res = timed_crm(env, tmp, "campaign", "send", "dry", "--dry-run", "--json")
        if (res["planned"], res["remaining"]) != (want["contacts"], n) or res["render_errors"]:
            fail(f"dry run: {res}")
        best = min(best, secs)
    emit("campaign_dry_run", best, "s")

    # 2. the freeze alone: --limit 0 stops before the first message
    best = float("inf")
    for i in range(a.runs):
        add_campaign(env, tmp, f"freeze-{i}", a.html)
        secs, _, res = timed_crm(env, tmp, "campaign", "send", f"freeze-{i}", "--outbox",
                                 str(tmp / "freeze-out"), "--limit", "0", "--json",
                                 codes=(11,))  # fmt: skip
        if res["sent"] != 0 or res["planned"] != want["contacts"] or res["remaining"] != n:
            fail(f"freeze run: {res}")
        best = min(best, secs)
    freeze = best
    emit("campaign_freeze", freeze, "s")

    # 3. outbox
    results = {}
    for transport in ("outbox", "smtp"):
        best, best_cpu = float("inf"), 0.0
        for i in range(a.runs):
            name = f"{transport}-{i}"
            add_campaign(env, tmp, name, a.html)
            before, db_before = handler.messages, db_usage(env)
            if transport == "outbox":
                how = ["--outbox", str(tmp / f"outbox-{i}")]
            else:
                how = ["--smtp"]
            secs, cpu, res = timed_crm(env, tmp, "campaign", "send", name, *how, "--json")
            check_send(res, want, name)
            if transport == "outbox":
                files = eml_files(tmp / f"outbox-{i}")
                got, what = len(files), "outbox files"
                if files:
                    check_message(files[0])
            else:
                got = handler.messages - before
                what = "messages the server received"
            if got != res["sent"]:
                fail(f"{name}: {what} = {got}, but crm says sent = {res['sent']}")
            note(f"{name}: {secs:.1f} s wall, {cpu:.1f} s CPU, {res['sent']} sent")
            grew = [b - a for a, b in zip(db_before, db_usage(env))]
            if secs < best:
                best, best_cpu = secs, cpu
        results[transport] = best
        emit(f"campaign_send_{transport}", best, "s")
        emit(f"campaign_send_{transport}_msgs_per_s", n / best, "msgs/s")
        emit(f"campaign_send_{transport}_cpu", best_cpu, "s")
        if best > freeze:
            emit(f"campaign_deliver_{transport}_msgs_per_s", n / (best - freeze), "msgs/s")
    # what one send (freeze included) adds to the database, per message sent
    emit("db_growth_per_msg", grew[0] / n, "bytes")
    emit("change_log_rows_per_msg", grew[1] / n, "rows")

    # 4. references on the very messages crm wrote
    files = eml_files(tmp / "outbox-0")
    blobs = [(p.name, p.read_bytes()) for p in files]
    size = sum(len(b) for _, b in blobs) / len(blobs)
    emit("message_size_mean", size, "bytes")
    best = float("inf")
    for i in range(a.runs):
        best = min(best, outbox_reference(blobs, tmp / f"ref-outbox-{i}"))
        got = len(eml_files(tmp / f"ref-outbox-{i}"))
        if got != n:
            fail(f"outbox reference wrote {got} files, expected {n}")
    ref_outbox = best
    emit("ref_fsync_rename", ref_outbox, "s")
    emit("ref_fsync_rename_msgs_per_s", n / ref_outbox, "msgs/s")
    best = float("inf")
    for _ in range(a.runs):
        before = handler.messages
        best = min(best, smtp_reference(port, files, tmp))
        if handler.messages - before != n:
            fail(f"smtplib reference: the server received {handler.messages - before}, sent {n}")
    ref_smtp = best
    emit("ref_smtplib", ref_smtp, "s")
    emit("ref_smtplib_msgs_per_s", n / ref_smtp, "msgs/s")

    emit("campaign_send_outbox_over_fsync_rename", results["outbox"] / ref_outbox, "x")
    emit("campaign_send_smtp_over_smtplib", results["smtp"] / ref_smtp, "x")
    if a.profile:
        profile_send(env, tmp, a.html)
    note(
        f"crm campaign send: {n / results['smtp']:.0f} msgs/s over SMTP "
        f"(smtplib alone {n / ref_smtp:.0f}), {n / results['outbox']:.0f} msgs/s into an outbox "
        f"(fsync+rename alone {n / ref_outbox:.0f}); the freeze takes {freeze:.1f} s of each"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
