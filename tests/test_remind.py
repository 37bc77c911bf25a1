"""crm remind: exactly once per recipient, concurrent runs, and the mail path on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from conftest import configure_smtp, free_port


def _add(crm, *args) -> int:
    return int(crm("followup", "add", *args).stdout.strip())


def _remind(crm, *args):
    r = crm("remind", *args, ok=False)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_acceptance_reports_once_and_exits_10_then_0(crm):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    _add(crm, "Llamar a Ana", "--due", "tomorrow 9am", "--contact", "ana@example.es")
    overdue = _add(crm, "Vencida", "--due", "2020-01-01 09:00", "--contact", "ana@example.es")
    r = _remind(crm, "--json")
    assert r.exit_code == 10, r.stderr
    (item,) = json.loads(r.stdout)
    assert item["id"] == overdue and item["text"] == "Vencida" and item["recipient"] == "tester"
    r = _remind(crm, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    assert r.stderr == ""  # cron mails any output: a quiet run prints nothing


def test_snooze_or_new_due_time_reports_again(crm, monkeypatch):
    fid = _add(crm, "Call", "--due", "-1h")
    assert _remind(crm).exit_code == 10
    assert _remind(crm).exit_code == 0
    crm("followup", "snooze", str(fid), "2h")
    assert _remind(crm).exit_code == 0  # not due yet
    monkeypatch.setenv("CRM_NOW", "2026-03-10T11:30:00+01:00")
    r = _remind(crm)
    assert r.exit_code == 10 and "Call" in r.stdout
    assert _remind(crm).exit_code == 0
    crm("followup", "edit", str(fid), "--due", "2026-03-10 11:15")
    assert _remind(crm).exit_code == 10


def test_each_recipient_gets_their_own_report(crm):
    crm("user", "add", "bea")
    crm("user", "add", "carl")
    bea = _add(crm, "Bea's", "--due", "-1h", "--assign", "bea")
    carl = _add(crm, "Carl's", "--due", "-1h", "--assign", "carl")
    mine = _add(crm, "Mine", "--due", "-1h")
    r = _remind(crm, "--for", "bea", "--json")
    assert r.exit_code == 10 and [i["id"] for i in json.loads(r.stdout)] == [bea]
    assert _remind(crm, "--for", "bea").exit_code == 0
    # Bea's run swallowed nothing of Carl's or mine.
    r = _remind(crm, "--for", "carl", "--json")
    assert [i["id"] for i in json.loads(r.stdout)] == [carl]
    r = _remind(crm, "--json")
    assert [i["id"] for i in json.loads(r.stdout)] == [mine]
    # Reassigning to someone else makes it theirs to hear about.
    crm("followup", "edit", str(mine), "--assign", "bea")
    r = _remind(crm, "--for", "bea", "--json")
    assert [i["id"] for i in json.loads(r.stdout)] == [mine]
    crm.fails("remind", "--for", "nobody", code=3)


def test_cadence_is_reminded_to_the_owner(crm, monkeypatch):
    crm("contact", "add", "Ana", "--email", "ana@example.es")
    crm("contact", "cadence", "Ana", "--every", "2w")
    assert _remind(crm).exit_code == 0
    monkeypatch.setenv("CRM_NOW", "2026-03-30T09:00:00+02:00")
    r = _remind(crm, "--json")
    assert r.exit_code == 10
    (item,) = json.loads(r.stdout)
    assert item["kind"] == "cadence" and item["contact"] == "Ana"
    assert _remind(crm).exit_code == 0


def test_undo_never_reverts_claims_and_dry_run_claims_nothing(crm):
    fid = _add(crm, "Call", "--due", "-1h")
    r = _remind(crm, "--dry-run", "--json")
    assert r.exit_code == 10 and json.loads(r.stdout)[0]["id"] == fid
    assert _remind(crm).exit_code == 10
    # undo skips the claim set and undoes the add instead.
    out = crm("undo").stdout
    assert "followup add" in out
    crm.fails("followup", "show", str(fid), code=3)
    redo = out.rsplit("recorded as set ", 1)[1].strip()
    crm("undo", redo)  # reverting the undo brings the follow-up back
    assert _remind(crm).exit_code == 0  # the claim survived both
    history = crm.json("history")
    remind_sets = [s for s in history if s["label"].startswith("remind")]
    assert remind_sets and not any(s["undoable"] for s in remind_sets)


def test_remind_without_database_is_an_error(crm, tmp_path):
    crm.fails("--db", str(tmp_path / "none.db"), "remind", code=3)


def test_two_concurrent_runs_report_each_item_once(crm):
    ids = {_add(crm, f"Task {n}", "--due", f"-{n}h") for n in range(1, 6)}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "crm_cli", "remind", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    reported = []
    for out, err in outs:
        assert b"Traceback" not in err, err
        if out.strip():
            reported += [i["id"] for i in json.loads(out)]
    assert sorted(reported) == sorted(ids)  # every item once between them
    assert codes in ([0, 10], [10, 10])


# ---------------------------------------------------------------- mail


def test_mail_digest_is_sent_once(crm, smtp_server):
    handler = smtp_server()
    crm("contact", "add", "Ana García", "--email", "ana@example.es")
    _add(crm, "Vencida", "--due", "2020-01-01 09:00", "--contact", "ana@example.es")
    _add(crm, "Otra", "--due", "-2h", "--every", "weekly")
    _add(crm, "Future", "--due", "+2d")
    r = _remind(crm, "--mail", "me@example.com")
    assert r.exit_code == 10, r.stderr
    assert r.stdout == ""  # cron mails stdout: a sent digest prints nothing
    assert r.stderr == ""
    ((rcpts, msg),) = handler.messages
    assert rcpts == ["me@example.com"]
    assert msg["Subject"] == "crm: 2 follow-ups due"
    assert msg["From"] == "crm@example.com"
    body = msg.get_content()
    assert "Vencida" in body and "Ana García" in body and "Otra" in body and "Future" not in body
    assert "Wed 2020-01-01 09:00" in body  # local time
    r = _remind(crm, "--mail", "me@example.com")
    assert r.exit_code == 0 and len(handler.messages) == 1


def test_refused_mail_releases_the_claims(crm, smtp_server):
    handler = smtp_server("550 mailbox unavailable")
    _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    r = crm.fails("remind", "--mail", "me@example.com", code=1)
    assert "550" in r.stderr and "nothing was sent" in r.stderr
    assert handler.messages == []
    handler.reply = "250 OK"
    r = _remind(crm, "--mail", "me@example.com")
    assert r.exit_code == 10 and len(handler.messages) == 1
    # Claims and releases are not undoable: undo reaches the add behind them.
    assert "followup add" in crm("undo").stdout


def test_unreachable_server_releases_the_claims(crm, isolated):
    configure_smtp(isolated, free_port())  # nothing listens there
    fid = _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    r = crm.fails("remind", "--mail", "me@example.com", code=1)
    assert "cannot send mail" in r.stderr
    r = _remind(crm, "--json")
    assert r.exit_code == 10 and [i["id"] for i in json.loads(r.stdout)] == [fid]


def test_mail_config_errors_claim_nothing(crm, isolated, monkeypatch):
    _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    r = crm.fails("remind", "--mail", "me@example.com", code=1)
    assert "smtp.host" in r.stderr
    crm.fails("remind", "--mail", "not an address", code=1)
    cfg = isolated / "config" / "config.toml"
    cfg.write_text(
        '[smtp]\nhost = "127.0.0.1"\nuser = "me@example.com"\npassword_env = "CRM_TEST_PW"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("CRM_TEST_PW", raising=False)
    r = crm.fails("remind", "--mail", "me@example.com", code=1)
    assert "CRM_TEST_PW" in r.stderr
    assert _remind(crm).exit_code == 10  # still unclaimed


def test_due_on_the_minute_is_reported_by_the_cron_run_of_that_minute(crm, monkeypatch):
    fid = _add(crm, "At nine", "--due", "today 9:00")
    monkeypatch.setenv("CRM_NOW", "2026-03-10T09:00:00.400+01:00")  # cron starts a bit late
    r = _remind(crm, "--json")
    assert r.exit_code == 10 and [i["id"] for i in json.loads(r.stdout)] == [fid]


def test_sigterm_while_mailing_releases_the_claims(crm, isolated):
    """A server that accepts the connection and never answers; cron's timeout sends SIGTERM."""
    import signal
    import threading
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    configure_smtp(isolated, silent.getsockname()[1])
    fid = _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    p = subprocess.Popen(
        [sys.executable, "-m", "crm_cli", "remind", "--mail", "me@example.com"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not held and time.monotonic() < deadline:  # connected: the claim is written
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    silent.close()
    assert p.returncode == 1 and "Traceback" not in err and "signal" in err, err
    r = _remind(crm, "--json")
    assert r.exit_code == 10 and [i["id"] for i in json.loads(r.stdout)] == [fid]


def test_a_report_that_cannot_be_written_is_not_claimed(crm, isolated):
    fid = _add(crm, "Vencida", "--due", "2020-01-01 09:00")
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "crm_cli", "remind", "--json"],
                           env=os.environ.copy(), stdout=full, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert p.returncode == 1 and "Traceback" not in p.stderr and "cannot write" in p.stderr
    r = _remind(crm, "--json")
    assert r.exit_code == 10 and [i["id"] for i in json.loads(r.stdout)] == [fid]


def test_a_quit_error_after_the_message_was_accepted_counts_as_sent(crm, smtp_server):
    from aiosmtpd.smtp import SMTP as Server

    handler = smtp_server()

    async def bad_quit(self, arg):
        await self.push("500 weird")

    original = Server.smtp_QUIT
    Server.smtp_QUIT = bad_quit
    try:
        _add(crm, "Vencida", "--due", "2020-01-01 09:00")
        assert _remind(crm, "--mail", "me@example.com").exit_code == 10
        assert _remind(crm, "--mail", "me@example.com").exit_code == 0
    finally:
        Server.smtp_QUIT = original
    assert len(handler.messages) == 1


def test_smtp_settings_are_checked_when_set(crm):
    crm.fails("config", "set", "smtp.port", "99999", code=1)
    crm.fails("config", "set", "smtp.security", "tls", code=1)
    crm("config", "set", "smtp.security", "SSL")
    assert crm("config", "get", "smtp.security").stdout.strip() == "ssl"
