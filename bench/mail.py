#!/usr/bin/env python3
"""`crm import mail` of a 20,000-message mbox against Python's own mailbox + email parse, same run.

1. Generates a deterministic mbox (``--seed``): conversations of one to six messages
   (References / In-Reply-To; replies quoted), about a third sent by us, a fifth as
   multipart/alternative with HTML, one in twenty-five with a PDF attachment, some
   non-ASCII names and RFC 2047 subjects, a few DSN bounces, auto-replies and ARF
   complaints; four in five correspondents are among the 3,000 contacts seeded first
   (with ``crm contact add --from-ndjson``: orgs, emails), the rest unknown.
2. Times ``crm import mail FILE --own …`` end to end (a subprocess, on a fresh copy of
   the seeded database each time), best of N: messages/s.
3. Times, in this process, Python's own ``mailbox.mbox`` iteration of the same file
   (compat32 messages: the bare parse) and the same with ``policy.default`` reading the
   headers and text body the import reads; prints both and the ratios (goal: crm >= 0.5x
   the bare parse -- threading and logging cost little beside parsing).

Output: `name value unit` lines on stdout; notes on stderr.
Run with the venv's python:  .venv/bin/python bench/mail.py [--messages N] [--runs N]
"""

from __future__ import annotations

import argparse
import email
import json
import mailbox
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TempDir, crm_env, emit, entry_point, init_db, note  # noqa: E402

GOAL = 0.5
OWN = "ourco.example"

FIRST = ["Ana", "Bruno", "Carla", "David", "Elena", "Fernando", "Gloria", "Hugo", "Inés",
         "Javier", "Karin", "Lucía", "Marco", "Nuria", "Óscar", "Paula", "Quim", "Rosa",
         "Sergio", "Teresa", "Ulises", "Vera", "Walter", "Ximena", "Yolanda", "Zoë", "Björn",
         "Chloé", "Dmitri", "Émile"]  # fmt: skip
LAST = ["García", "Smith", "Müller", "Rossi", "Dubois", "Kowalski", "Novák", "Jensen",
        "Silva", "Ivanova", "O'Brien", "Nakamura", "López", "Schmidt", "Martin", "Costa",
        "Andersen", "Fischer", "Moreau", "Ruiz"]  # fmt: skip
WORDS = ("proposal meeting invoice renewal order quote delivery contract pricing demo "
         "schedule update question support training budget review plan offer follow-up "
         "timeline shipment licence upgrade discount project call workshop").split()  # fmt: skip
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 12 + b"\n%%EOF\n"


def _ascii(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum())


def people(rng: random.Random, n: int, domain_count: int) -> list[dict]:
    domains = [f"{w}{i}.example" for i, w in enumerate(rng.choices(WORDS, k=domain_count))]
    out, seen = [], set()
    while len(out) < n:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        d = rng.randrange(domain_count)
        addr = f"{_ascii(first).lower()}.{_ascii(last).lower()}{rng.randrange(100)}@{domains[d]}"
        if addr in seen:
            continue
        seen.add(addr)
        out.append({"name": f"{first} {last}", "email": addr, "org": f"Org {domains[d]}"})
    return out


def seed_contacts(tmp: Path, env: dict, known: list[dict]) -> None:
    nd = tmp / "contacts.ndjson"
    with open(nd, "w", encoding="utf-8") as f:
        for p in known:
            f.write(json.dumps({"name": p["name"], "emails": [p["email"]], "org": p["org"]},
                               ensure_ascii=False) + "\n")  # fmt: skip
    t0 = time.perf_counter()
    r = subprocess.run([str(entry_point("crm")), "contact", "add", "--from-ndjson", str(nd)],
                       env=env, capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        note(f"FAIL: seeding contacts exited {r.returncode}\n{r.stderr[-2000:]}")
        sys.exit(1)
    note(f"seeded {len(known)} contacts in {time.perf_counter() - t0:.1f} s")


def _subject(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()


def _header_name(name: str) -> str:
    from email.header import Header

    return Header(name, "utf-8").encode() if not name.isascii() else f'"{name}"'


def _body(rng: random.Random, who: str, quoted: str | None) -> str:
    lines = [f"Hello {who.split()[0]},", ""]
    for _ in range(rng.randint(2, 8)):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + ".")
    lines += ["", "Best regards,", "-- ", "The team"]
    if quoted:
        lines += ["", "> " + quoted.replace("\n", "\n> ")[:600]]
    return "\n".join(lines)


def _message(rng, *, mid, sender, to, subject, date, body, parents, html, attach) -> bytes:
    from email.message import EmailMessage

    m = EmailMessage(policy=policy.SMTP)
    m["From"] = f"{_header_name(sender['name'])} <{sender['email']}>"
    m["To"] = f"{_header_name(to['name'])} <{to['email']}>"
    m["Subject"] = subject
    m["Date"] = format_datetime(date)
    m["Message-ID"] = mid
    if parents:
        m["In-Reply-To"] = parents[-1]
        m["References"] = " ".join(parents[-8:])
    m.set_content(body)
    if html:
        paras = "".join(f"<p>{line}</p>" for line in body.split("\n") if line)
        m.add_alternative(f"<html><body>{paras}</body></html>", subtype="html")
    if attach:
        m.add_attachment(PDF, maintype="application", subtype="pdf",
                         filename=f"{rng.choice(WORDS)}-{rng.randrange(1000)}.pdf")  # fmt: skip
    return m.as_bytes()


def _dsn(mid: str, date: datetime, failed: str, original: str, hard: bool) -> bytes:
    action, status = ("failed", "5.1.1") if hard else ("delayed", "4.2.2")
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.{OWN}>\nTo: news@{OWN}\n"
        f"Subject: Undelivered Mail Returned to Sender\nDate: {format_datetime(date)}\n"
        f"Message-ID: {mid}\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        f"Final-Recipient: rfc822; {failed}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status.replace('.', '')[:1]}50 {status} mailbox problem\n\n"
        f"--B\nContent-Type: text/rfc822-headers\n\nFrom: news@{OWN}\nTo: {failed}\n"
        f"Message-ID: {original}\nSubject: News\n\n--B--\n"
    ).encode()


def _complaint(mid: str, date: datetime, addr: str) -> bytes:
    return (
        f"From: feedback@arf.mail.yahoo.com\nTo: abuse@{OWN}\nSubject: FW: News\n"
        f"Date: {format_datetime(date)}\nMessage-ID: {mid}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nAn abuse report.\n\n--F\n"
        "Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n"
        f"Original-Rcpt-To: {addr}\n\n--F--\n"
    ).encode()


def _escape(raw: bytes) -> bytes:
    """mboxrd: body lines starting '>*From ' get one more '>'."""
    import re

    return re.sub(rb"^(>*From )", rb">\1", raw, flags=re.M)


def generate(path: Path, n: int, rng: random.Random, known: list[dict], unknown: list[dict]):
    ours = [{"name": f"Sales {i}", "email": f"sales{i}@{OWN}"} for i in range(5)]
    start = datetime(2025, 1, 1, 8, tzinfo=UTC)
    written = 0
    counts = {"threads": 0, "html": 0, "attachments": 0, "bounces": 0, "complaints": 0,
              "auto_replies": 0}  # fmt: skip
    with open(path, "wb") as f:

        def put(raw: bytes, when: datetime) -> None:
            nonlocal written
            f.write(b"From MAILER-DAEMON " + when.strftime("%a %b %d %H:%M:%S %Y").encode())
            f.write(b"\n" + _escape(raw.replace(b"\r\n", b"\n")).rstrip(b"\n") + b"\n\n")
            written += 1

        while written < n:
            counts["threads"] += 1
            them = rng.choice(known) if rng.random() < 0.8 else rng.choice(unknown)
            me = rng.choice(ours)
            when = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 420))
            subject = _subject(rng)
            first_ours = rng.random() < 0.35
            parents: list[str] = []
            last_body = None
            for k in range(rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6))):
                if written >= n:
                    break
                mid = f"<{rng.getrandbits(64):016x}.{written}@{'mail.' + OWN if (k % 2 == 0) == first_ours else 'mx.' + them['email'].split('@')[1]}>"
                sender, to = (me, them) if (k % 2 == 0) == first_ours else (them, me)
                if k and rng.random() < 0.03 and sender is them:  # an out-of-office answer
                    body = f"I am out of the office until {when.date() + timedelta(days=7)}."
                    raw = _message(rng, mid=mid, sender=them, to=me, date=when, parents=parents,
                                   subject=f"Automatic reply: {subject}", body=body, html=False,
                                   attach=False)  # fmt: skip
                    raw = raw.replace(b"\nMessage-ID:", b"\nAuto-Submitted: auto-replied\nMessage-ID:", 1)  # fmt: skip
                    counts["auto_replies"] += 1
                else:
                    html = rng.random() < 0.2
                    attach = rng.random() < 0.04
                    counts["html"] += html
                    counts["attachments"] += attach
                    body = _body(rng, to["name"], last_body)
                    raw = _message(rng, mid=mid, sender=sender, to=to, date=when, body=body,
                                   subject=("Re: " if k else "") + subject, parents=parents,
                                   html=html, attach=attach)  # fmt: skip
                    last_body = body
                put(raw, when)
                parents.append(mid)
                when += timedelta(minutes=rng.randrange(5, 60 * 48))
            if written < n and rng.random() < 0.01:  # a bounce of one of our messages
                bounced = rng.choice(known)
                put(_dsn(f"<dsn.{written}@mx.{OWN}>", when, bounced["email"],
                         f"<news.{written}@mail.{OWN}>", hard=rng.random() < 0.7), when)  # fmt: skip
                counts["bounces"] += 1
            if written < n and rng.random() < 0.002:
                put(_complaint(f"<arf.{written}@arf>", when, rng.choice(known)["email"]), when)
                counts["complaints"] += 1
    return counts


ONE_PROCESS = (
    "import sys; import crm_cli.io.mail_in as m; m.PARALLEL_BYTES = 1 << 62; "
    "from crm_cli.cli import main; sys.argv[0] = 'crm'; main()"
)


def run_import(tmp: Path, seeded: Path, env: dict, cmd: list[str]):
    """One import on a fresh copy of the seeded database: (wall s, CPU s of the import and
    its worker, the --json summary, stderr)."""
    db = tmp / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(seeded, db)
    before = os.times()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env={**env, "CRM_DB": str(db)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    if r.returncode not in (0, 11):
        note(f"FAIL: crm import mail exited {r.returncode}\n{r.stderr[-3000:]}")
        sys.exit(1)
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, json.loads(r.stdout), r.stderr


def parse_bare(path: Path) -> int:
    n = 0
    for _ in mailbox.mbox(str(path)):
        n += 1
    return n


def parse_default(path: Path) -> int:
    n = 0
    box = mailbox.mbox(
        str(path), factory=lambda f: email.message_from_binary_file(f, policy=policy.default)
    )
    for m in box:
        for h in ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"):
            try:
                str(m.get(h, ""))
            except Exception:  # noqa: BLE001 - policy.default raises on some headers
                pass
        try:
            body = m.get_body(("plain", "html"))
            if body is not None:
                body.get_content()
        except Exception:  # noqa: BLE001
            pass
        n += 1
    return n


def timed(fn, runs: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--contacts", type=int, default=3_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    crm = entry_point("crm")
    rng = random.Random(a.seed)
    with TempDir("crm-bench-mail-", keep=a.keep) as tmp:
        everyone = people(rng, a.contacts * 5 // 4, a.contacts // 10)
        known, unknown = everyone[: a.contacts], everyone[a.contacts :]
        box = tmp / "mail.mbox"
        t0 = time.perf_counter()
        counts = generate(box, a.messages, rng, known, unknown)
        note(
            f"generated {box.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s: {counts}"
        )
        emit("messages", a.messages, "messages")
        emit("mbox_size", box.stat().st_size / 2**20, "MiB")

        seeded = tmp / "seeded.db"
        env = crm_env(tmp, seeded)
        init_db(env)
        seed_contacts(tmp, env, known)

        args = ["import", "mail", str(box), "--own", f"@{OWN}", "--json",
                "--rejects", str(tmp / "rejects.csv")]  # fmt: skip
        runs = [run_import(tmp, seeded, env, [str(crm), *args]) for _ in range(a.runs)]
        crm_s, cpu_s, last, err = min(runs, key=lambda r: r[0])
        d = last["mail"]
        note(err.strip())
        emit("crm_import_mail", crm_s, "s")
        emit("crm_import_mail_per_s", a.messages / crm_s, "messages/s")
        emit("crm_import_mail_cpu", cpu_s, "s")
        # The same in one process (no reading worker): what a single core gives.
        one = [sys.executable, "-c", ONE_PROCESS, *args]
        single = min(run_import(tmp, seeded, env, one)[0] for _ in range(a.runs))
        emit("crm_import_mail_one_process", single, "s")
        emit("crm_import_mail_one_process_per_s", a.messages / single, "messages/s")
        emit("crm_imported", last["created"], "messages")
        emit("crm_no_contact", d["no_contact"], "messages")
        with sqlite3.connect(tmp / "run.db") as c:
            threads = c.execute("SELECT count(DISTINCT thread_key) FROM mail_messages").fetchone()
            emit("threads_stored", threads[0], "threads")

        bare_s, n1 = timed(lambda: parse_bare(box), a.runs)
        default_s, n2 = timed(lambda: parse_default(box), 1)  # ~25 s: once is enough
        if n1 != a.messages or n2 != a.messages:
            note(f"NOTE: Python's mailbox read {n1} / {n2} messages, not {a.messages}")
        emit("python_mailbox_parse", bare_s, "s")
        emit("python_mailbox_parse_per_s", n1 / bare_s, "messages/s")
        emit("python_policy_default_parse", default_s, "s")
        emit("python_policy_default_parse_per_s", n2 / default_s, "messages/s")
        ratio = (a.messages / crm_s) / (n1 / bare_s)
        emit("crm_over_python_parse", ratio, "x")
        emit("crm_over_python_policy_default", (a.messages / crm_s) / (n2 / default_s), "x")
        emit("crm_one_process_over_python_parse", (a.messages / single) / (n1 / bare_s), "x")
        verdict = "ok  " if ratio >= GOAL else "UNDER"
        note(
            f"{verdict} crm import mail = {ratio:.2f}x Python's own mailbox parse (goal >= {GOAL}x)"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
