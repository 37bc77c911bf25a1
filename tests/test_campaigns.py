"""Campaigns through the CLI: templates, the frozen list, the send ledger against a real
SMTP server on 127.0.0.1 (aiosmtpd), outboxes, call lists, letters and unsubscribes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from conftest import free_port
from hypothesis import given
from hypothesis import strategies as st


class Server:
    """An SMTP server whose answer depends on the recipient: 'temp' -> 451, 'perm' ->
    550, 'slow' -> answers after a delay (longer than the client waits)."""

    def __init__(self):
        self.messages: list[tuple[list[str], object]] = []
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("temp"):
            return "451 4.3.0 try again later"
        if address.startswith("perm"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))
        if any(r.startswith("slow") for r in envelope.rcpt_tos):
            await asyncio.sleep(self.delay)
        return "250 OK"

    def to(self) -> list[str]:
        return [r for rcpts, _ in self.messages for r in rcpts]


@pytest.fixture
def server(isolated, smtp_handler):
    handler = Server()
    port = smtp_handler(handler)
    _config(isolated, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
    return handler


def _config(tmp_path, extra: str = "") -> None:
    (tmp_path / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n'
        '[campaign]\nfrom = "Shop <news@shop.example>"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n'
        'unsubscribe_mailto = "unsub@shop.example"\n\n' + extra,
        encoding="utf-8",
    )


@pytest.fixture
def configured(isolated):
    _config(isolated)
    return isolated


TEMPLATE = (
    "Hello {{ first_name | default('there') }},\n\n"
    "{% if org is defined %}Thanks to everyone at {{ org }}.\n{% endif %}"
    "Unsubscribe: {{ unsubscribe_url }}\n"
)


def _people(crm, *specs: tuple[str, ...]) -> list[int]:
    return [int(crm("contact", "add", *spec).stdout) for spec in specs]


@pytest.fixture
def spring(crm, configured):
    """A segment of five vip contacts (one opted out, one without email) and a campaign."""
    ids = _people(
        crm,
        ("Ann Lee", "--email", "ann@example.com", "--tag", "vip", "--org", "Acme"),
        ("Bob Stone", "--email", "bob@example.com", "--tag", "vip"),
        ("Cy", "--tag", "vip"),
        ("Di Opt", "--email", "di@example.com", "--tag", "vip", "--consent", "opted_out"),
        ("Eve", "--email", "eve@example.com", "--tag", "vip"),
        ("Fay Other", "--email", "fay@example.com"),
    )
    crm("segment", "add", "vips", "tag:vip")
    tpl = configured / "spring.txt"
    tpl.write_text(TEMPLATE, encoding="utf-8")
    crm("campaign", "add", "spring", "--segment", "vips", "--subject",
        "Spring for {{ first_name | default('you') }}", "--template", str(tpl))  # fmt: skip
    return ids


def test_send_over_smtp_personalised_with_unsubscribe_headers(crm, spring, server):
    result = crm("campaign", "send", "spring", "--json")
    res = json.loads(result.stdout)
    assert (res["sent"], res["planned"], res["skipped"]) == (3, 5, {"no_email": 1, "opted_out": 1})
    assert sorted(server.to()) == ["ann@example.com", "bob@example.com", "eve@example.com"]
    msgs = {rcpts[0]: m for rcpts, m in server.messages}
    ann = msgs["ann@example.com"]
    assert ann["Subject"] == "Spring for Ann"
    assert str(ann["To"]) == "Ann Lee <ann@example.com>"
    assert ann["From"] == "Shop <news@shop.example>"
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsub = ann["List-Unsubscribe"]
    assert (
        unsub.startswith("<https://shop.example/u/")
        and "<mailto:unsub@shop.example?subject=unsubscribe%20" in unsub
    )
    body = ann.get_body(("plain",)).get_content()
    assert "Hello Ann," in body and "Thanks to everyone at Acme." in body
    eve = msgs["eve@example.com"].get_body(("plain",)).get_content()
    assert eve.startswith("Hello Eve,") and "Thanks to" not in eve  # no org: the block is left out
    # The ledger holds each message's id, as sent: replies and bounces are matched on it.
    st = crm.json("campaign", "status", "spring")
    assert (st["sent"], st["pending"], st["in_doubt"], st["status"]) == (3, 0, 0, "done")
    # A second run sends nobody anything.
    again = json.loads(crm("campaign", "send", "spring", "--json").stdout)
    assert again["sent"] == 0 and len(server.messages) == 3
    assert crm("campaign", "list", "--json").stdout.count('"sent": 3') == 1


def test_message_ids_in_the_ledger_match_what_was_sent(crm, spring, server):
    from crm_cli.storage import open_db

    crm("campaign", "send", "spring")
    db = open_db()
    ledger = dict(db.conn.execute(
        "SELECT email, message_id FROM campaign_recipients WHERE state = 'sent'"
    ).fetchall())  # fmt: skip
    sent = {rcpts[0]: m["Message-ID"] for rcpts, m in server.messages}
    assert ledger == sent
    assert all(mid.endswith("@shop.example>") for mid in sent.values())


def test_dry_run_counts_and_writes_nothing(crm, spring, server):
    from crm_cli.storage import open_db

    res = json.loads(crm("campaign", "send", "spring", "--dry-run", "--json").stdout)
    assert (res["planned"], res["remaining"], res["skipped"]) == (
        5,
        3,
        {"no_email": 1, "opted_out": 1},
    )
    assert server.messages == []
    db = open_db()
    assert db.conn.execute("SELECT count(*) FROM campaign_recipients").fetchone()[0] == 0
    assert crm.json("campaign", "show", "spring")["frozen_at"] is None


def test_list_is_frozen_at_first_send(crm, spring, server):
    first = crm("campaign", "send", "spring", "--limit", "1", ok=False)
    assert first.exit_code == 11 and "remaining: 2" in first.stderr
    # Someone joins the segment, someone leaves it: the campaign keeps its people.
    crm("contact", "tag", "fay@example.com", "vip")
    crm("contact", "untag", "eve@example.com", "vip")
    crm("campaign", "send", "spring")
    assert sorted(server.to()) == ["ann@example.com", "bob@example.com", "eve@example.com"]
    # The audience and message can no longer change.
    crm.fails("campaign", "edit", "spring", "--subject", "other", code=1)


def test_opt_out_after_freezing_is_honoured(crm, spring, server):
    crm("campaign", "send", "spring", "--limit", "1", ok=False)
    crm("contact", "edit", "bob@example.com", "--consent", "opted_out")
    res = json.loads(crm("campaign", "send", "spring", "--json").stdout)
    assert res["skipped_now"] == 1
    assert "bob@example.com" not in server.to()
    assert crm.json("campaign", "status", "spring")["skipped_by_reason"]["opted_out"] == 2


def test_temporary_failures_retry_permanent_ones_do_not(crm, configured, server):
    _people(crm, ("Temp", "--email", "temp@example.com", "--tag", "t"),
            ("Perm", "--email", "perm@example.com", "--tag", "t"),
            ("Ok", "--email", "ok@example.com", "--tag", "t"))  # fmt: skip
    crm("segment", "add", "t", "tag:t")
    tpl = configured / "t.txt"
    tpl.write_text("Hi {{ name }}\n", encoding="utf-8")
    crm("campaign", "add", "c", "--segment", "t", "--subject", "s", "--template", str(tpl))
    first = crm("campaign", "send", "c", "--json", ok=False)
    assert first.exit_code == 11
    res = json.loads(first.stdout)
    assert (res["sent"], res["failed"], res["retry"]) == (1, 1, 1)
    st = crm.json("campaign", "status", "c")
    assert (st["sent"], st["failed"], st["retry"], st["pending"]) == (1, 1, 1, 1)
    errors = {r["email"]: (r["error_kind"], r["error"]) for r in st["failed_recipients"]}
    assert errors["perm@example.com"][0] == "permanent" and "550" in errors["perm@example.com"][1]
    assert errors["temp@example.com"][0] == "temporary" and "451" in errors["temp@example.com"][1]
    # The next run tries the temporary one again, not the permanent one.
    second = json.loads(crm("campaign", "send", "c", "--json", ok=False).stdout)
    assert (second["sent"], second["failed"], second["retry"]) == (0, 0, 1)
    attempts = {r["email"]: r["attempts"] for r in
                crm.json("campaign", "status", "c")["failed_recipients"]}  # fmt: skip
    assert attempts == {"temp@example.com": 2, "perm@example.com": 1}


def test_a_lost_answer_leaves_the_recipient_in_doubt_until_released(
    crm, configured, server, monkeypatch
):
    from crm_cli.io import mail

    monkeypatch.setattr(mail, "TIMEOUT", 0.5)
    server.delay = 1.5
    _people(crm, ("Slow", "--email", "slow@example.com", "--tag", "s"),
            ("Quick", "--email", "quick@example.com", "--tag", "s"))  # fmt: skip
    crm("segment", "add", "s", "tag:s")
    tpl = configured / "t.txt"
    tpl.write_text("Hi\n", encoding="utf-8")
    crm("campaign", "add", "c", "--segment", "s", "--subject", "s", "--template", str(tpl))
    first = crm("campaign", "send", "c", "--json", ok=False)
    assert first.exit_code == 11 and "in doubt: 1" in first.stderr
    st = crm.json("campaign", "status", "c")
    assert st["in_doubt"] == 1 and st["in_doubt_recipients"][0]["email"] == "slow@example.com"
    assert st["sent"] == 1  # the connection was opened again for the next recipient
    # The server did get it: a plain re-run must not send it again.
    server.delay = 0
    again = json.loads(crm("campaign", "send", "c", "--json", ok=False).stdout)
    assert again["sent"] == 0 and again["in_doubt"] == 1
    assert server.to().count("slow@example.com") == 1
    text = crm("campaign", "status", "c").stdout
    assert "In doubt" in text and "slow@example.com" in text
    # Only an explicit --resend-in-doubt sends it again.
    released = json.loads(crm("campaign", "send", "c", "--resend-in-doubt", "--json").stdout)
    assert (released["released"], released["sent"], released["in_doubt"]) == (1, 1, 0)
    assert server.to().count("slow@example.com") == 2


def test_an_unreachable_server_sends_and_marks_nothing(crm, spring, configured):
    _config(configured, f'[smtp]\nhost = "127.0.0.1"\nport = {free_port()}\nsecurity = "none"\n')
    result = crm("campaign", "send", "spring", "--json", ok=False)
    assert result.exit_code == 11 and "stopped: cannot send via 127.0.0.1" in result.stderr
    st = crm.json("campaign", "status", "spring")
    assert (st["sent"], st["pending"], st["in_doubt"]) == (0, 3, 0)


def test_outbox_writes_messages_and_resolves_doubt_itself(crm, spring, configured):
    from crm_cli.storage import open_db

    out = configured / "outbox"
    crm("campaign", "send", "spring", "--outbox", str(out))
    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    msg = message_from_bytes(files[0].read_bytes(), policy=default_policy)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A kill between writing a file and recording it: the outbox can tell it arrived.
    db = open_db()
    db.conn.execute(
        "UPDATE campaign_recipients SET state = 'sending' WHERE email = 'ann@example.com'"
    )
    db.conn.execute(
        "UPDATE campaign_recipients SET state = 'sending' WHERE email = 'bob@example.com'"
    )
    bob = db.conn.execute(
        "SELECT message_id FROM campaign_recipients WHERE email = 'bob@example.com'"
    ).fetchone()[0]
    from crm_cli.io.mail import OutboxTransport

    OutboxTransport(out)._path(bob).unlink()  # bob's file never got written
    db.conn.commit()
    res = json.loads(crm("campaign", "send", "spring", "--outbox", str(out), "--json").stdout)
    assert (res["resolved"], res["sent"], res["in_doubt"]) == (2, 1, 0)
    assert len(list(out.glob("*.eml"))) == 3


def test_missing_field_without_default_stops_before_anything_is_sent(crm, configured, server):
    _people(crm, ("Ann Lee", "--email", "ann@example.com", "--tag", "x"),
            ("Cher", "--email", "cher@example.com", "--tag", "x"))  # fmt: skip
    crm("segment", "add", "x", "tag:x")
    tpl = configured / "t.txt"
    tpl.write_text("Dear {{ last_name }},\n", encoding="utf-8")
    crm("campaign", "add", "c", "--segment", "x", "--subject", "s", "--template", str(tpl))
    dry = json.loads(crm("campaign", "send", "c", "--dry-run", "--json").stdout)
    assert len(dry["render_errors"]) == 1 and "Cher" in dry["render_errors"][0]
    err = crm.fails("campaign", "send", "c", code=1).stderr
    assert "last_name is missing" in err and "default" in err and "nothing was sent" in err
    assert server.messages == []
    assert crm.json("campaign", "show", "c")["frozen_at"] is None


def test_templates_are_sandboxed_and_checked_at_add(crm, configured):
    _people(crm, ("Ann", "--email", "ann@example.com", "--tag", "x"))
    crm("segment", "add", "x", "tag:x")
    bad = configured / "bad.txt"
    bad.write_text("Hi {{ name \n", encoding="utf-8")
    err = crm.fails("campaign", "add", "c", "--segment", "x", "--subject", "s",
                    "--template", str(bad), code=1).stderr  # fmt: skip
    assert "--template: line 1" in err
    evil = configured / "evil.txt"
    evil.write_text("{{ name.__class__.__mro__[1].__subclasses__() }}\n", encoding="utf-8")
    crm("campaign", "add", "c", "--segment", "x", "--subject", "s", "--template", str(evil))
    err = crm.fails("campaign", "preview", "c", code=1).stderr
    assert "template:" in err


def test_preview_for_a_named_contact_and_html(crm, spring, configured):
    html = configured / "t.html"
    html.write_text(
        "<p>Hello {{ first_name | default('there') }} {{ 'a & b' }}</p>\n", encoding="utf-8"
    )
    crm("campaign", "add", "both", "--segment", "vips", "--subject", "Hi",
        "--template", str(configured / "spring.txt"), "--html", str(html))  # fmt: skip
    out = crm("campaign", "preview", "both", "--contact", "bob@example.com").stdout
    assert "To: Bob Stone <bob@example.com>" in out and "Hello Bob," in out
    assert "a &amp; b" in crm("campaign", "preview", "both", "--html").stdout
    p = crm.json("campaign", "preview", "both")
    assert p["contact"] == "Ann Lee" and p["html"].startswith("<p>Hello Ann a &amp; b")
    crm.fails("campaign", "preview", "nope", code=3)


def test_unsubscribe_token_opts_the_contact_out(crm, spring, server):
    crm("campaign", "send", "spring")
    _, ann = next((r, m) for r, m in server.messages if r == ["ann@example.com"])
    token = ann["List-Unsubscribe"].split("/u/")[1].split(">")[0]
    out = json.loads(crm("campaign", "unsubscribe", token, "--json").stdout)
    assert out["campaign"] == "spring"
    assert crm.json("contact", "show", "ann@example.com")["consent"] == "opted_out"
    crm.fails("campaign", "unsubscribe", "not-a-token", code=3)


def test_call_list_creates_followups_for_owners(crm, configured):
    crm("user", "add", "sam")
    _people(crm, ("Ann", "--phone", "+34600000001", "--tag", "c", "--owner", "sam"),
            ("Bob", "--phone", "+34600000002", "--tag", "c"),
            ("Cy", "--tag", "c"))  # fmt: skip
    crm("segment", "add", "c", "tag:c")
    crm("campaign", "add", "calls", "--segment", "c", "--channel", "call")
    res = json.loads(crm("campaign", "send", "calls", "--due", "tomorrow 10am", "--json").stdout)
    assert (res["sent"], res["skipped"]) == (2, {"no_phone": 1})
    items = crm.json("followup", "list", "--all")
    assert {(i["contact"], i["assignee"]) for i in items} == {("Ann", "sam"), ("Bob", "tester")}
    assert all(i["text"] == "Call about calls" for i in items)
    again = json.loads(crm("campaign", "send", "calls", "--json").stdout)
    assert again["sent"] == 0 and len(crm.json("followup", "list", "--all")) == 2


def test_letters_export_a_mail_merge_csv(crm, configured):
    _people(crm, ("Ann", "--tag", "l", "--street", "Calle Mayor 1", "--city", "Madrid",
                  "--postal-code", "28013"),
            ("Bob", "--tag", "l"))  # fmt: skip
    crm("segment", "add", "l", "tag:l")
    crm("campaign", "add", "post", "--segment", "l", "--channel", "letter")
    out = configured / "letters.csv"
    crm("campaign", "send", "post", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["name"], r["street"], r["city"]) for r in rows] == [
        ("Ann", "Calle Mayor 1", "Madrid")
    ]
    st = crm.json("campaign", "status", "post")
    assert (st["sent"], st["skipped_by_reason"]) == (1, {"no_address": 1})


def test_errors_are_one_line(crm, spring, configured):
    crm.fails("campaign", "add", "spring", "--segment", "vips", "--subject", "s",
              "--template", str(configured / "spring.txt"), code=1)  # fmt: skip
    crm.fails("campaign", "add", "x", "--segment", "nope", "--subject", "s",
              "--template", str(configured / "spring.txt"), code=3)  # fmt: skip
    crm.fails("campaign", "add", "x", "--segment", "vips", code=1)
    crm.fails("campaign", "add", "x", "--segment", "vips", "--subject", "s",
              "--template", str(configured / "missing.txt"), code=1)  # fmt: skip
    crm.fails("campaign", "add", "x", "--channel", "fax", code=1)
    crm.fails("campaign", "send", "spring", "--rate", "fast", code=1)
    crm.fails("campaign", "send", "nope", code=3)
    crm.fails("campaign", "send", "spring", "--smtp", "--outbox", str(configured / "o"), code=1)
    crm("campaign", "add", "ads", "--channel", "ad")
    crm.fails("campaign", "send", "ads", code=1)
    _config(configured, "")
    (configured / "config" / "config.toml").write_text(
        '[campaign]\nfrom = "news@shop.example"\n', encoding="utf-8"
    )
    err = crm.fails("campaign", "send", "spring", "--outbox", str(configured / "o"), code=1).stderr
    assert "campaign.unsubscribe_url" in err
    assert not (configured / "o").exists()  # refused before the outbox was made


def test_a_second_live_run_is_refused(crm, spring, configured):
    import os
    import socket

    from crm_cli.storage import open_db

    db = open_db()
    cid = db.conn.execute("SELECT id FROM campaigns WHERE name = 'spring'").fetchone()[0]
    db.conn.execute(
        "INSERT INTO campaign_runs (campaign_id, via, pid, host, status, started_at)"
        " VALUES (?, 'smtp x', ?, ?, 'running', '2026-03-10T08:00:00Z')",
        (cid, os.getppid(), socket.gethostname()),
    )
    db.conn.commit()
    err = crm.fails("campaign", "send", "spring", "--outbox", str(configured / "o"), code=1)
    assert "is being sent by process" in err.stderr
    # A run whose process is gone is not in the way.
    db.conn.execute("UPDATE campaign_runs SET pid = 999999999")
    db.conn.commit()
    crm("campaign", "send", "spring", "--outbox", str(configured / "o"))


def test_delete_only_before_anyone_was_reached(crm, spring, configured):
    crm("campaign", "send", "spring", "--outbox", str(configured / "o"))
    crm.fails("campaign", "delete", "spring", code=1)
    crm("campaign", "add", "draft", "--channel", "ad")
    crm("campaign", "delete", "draft")
    crm.fails("campaign", "show", "draft", code=3)


def test_sent_ledger_survives_undo(crm, spring, configured):
    crm("campaign", "send", "spring", "--outbox", str(configured / "o"))
    # The send is not undoable: undo passes over it to the campaign add before it, which the
    # send's ledger has since built on, so it is refused and the record stays whole.
    result = crm("undo", ok=False)
    assert result.exit_code != 0, result.stdout
    assert crm.json("campaign", "status", "spring")["sent"] == 3
    history = crm.json("history")
    assert any(h["label"] == "campaign send spring" and not h["undoable"] for h in history)


@pytest.mark.parametrize(
    "text,seconds", [("30/min", 2.0), ("2/s", 0.5), ("3600/h", 1.0), ("1 / second", 1.0)]
)
def test_rate(text, seconds):
    from crm_cli.domain.campaigns import parse_rate

    assert parse_rate(text) == pytest.approx(seconds)


@given(st.text(max_size=30))
def test_rate_parser_answers_or_refuses_cleanly(text):
    from crm_cli.domain.campaigns import parse_rate
    from crm_cli.errors import InvalidInput

    try:
        seconds = parse_rate(text)
    except InvalidInput as e:
        assert "--rate" in str(e)
    else:
        assert seconds is not None and seconds > 0


def test_email_status_set_by_hand(crm, spring, server):
    from crm_cli.storage import open_db

    db = open_db()
    db.conn.execute("UPDATE emails SET status = 'bounced' WHERE value = 'bob@example.com'")
    db.close()
    dry = json.loads(crm("campaign", "send", "spring", "--dry-run", "--json").stdout)
    assert dry["skipped"]["bounced"] == 1
    # It was not a real bounce: set the address back by hand, recorded and undoable.
    crm("contact", "edit", "bob@example.com", "--email-status", "BOB@example.com=ok")
    bob = crm.json("contact", "show", "bob@example.com")
    assert bob["emails"][0]["status"] == "ok"
    dry = json.loads(crm("campaign", "send", "spring", "--dry-run", "--json").stdout)
    assert "bounced" not in dry["skipped"] and dry["remaining"] == 3
    crm("undo")
    assert crm.json("contact", "show", "bob@example.com")["emails"][0]["status"] == "bounced"
    crm.fails("contact", "edit", "bob@example.com", "--email-status", "bob@example.com=gone",
              code=1)  # fmt: skip
    crm.fails("contact", "edit", "bob@example.com", "--email-status", "x@example.com=ok", code=1)
