"""crm import mail: .eml, mbox and Maildir onto timelines, threaded; bounces, complaints,
auto-replies; against the real files in ../shared/realdata/email and messages built here."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.io import mail_in

ROOT = Path(__file__).resolve().parent.parent
EMAIL = ROOT.parent / "shared" / "realdata" / "email"
FILES = sorted(p for p in EMAIL.rglob("*") if p.suffix in (".eml", ".mbox"))
FOLDERS = sorted({p.relative_to(EMAIL).parent for p in FILES})


def _records(path: Path) -> list[mail_in.Message]:
    return list(mail_in.read([path]))


def _one(path: Path) -> dict:
    (m,) = _records(path)
    assert m.problem is None, m.problem
    return m.record


def _import(crm, *paths, ok=True, extra=()):
    r = crm("import", "mail", *map(str, paths), "--json", *extra, ok=ok)
    return r, json.loads(r.stdout) if r.stdout.strip() else None


def _add(crm, name: str, *emails: str) -> int:
    args = [x for e in emails for x in ("--email", e)]
    return int(crm("contact", "add", name, *args).stdout.strip())


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["CRM_DB"])
    conn.row_factory = sqlite3.Row
    return conn


def _rows(sql: str, *params) -> list[dict]:
    with _db() as conn:
        return [dict(r) for r in conn.execute(sql, params)]


def _email_status(addr: str) -> tuple[str, str | None]:
    (row,) = _rows("SELECT status, status_reason FROM emails WHERE value = ?", addr)
    return row["status"], row["status_reason"]


def _eml(tmp_path: Path, name: str, headers: dict[str, str], body: str = "Hello.\n") -> Path:
    text = "".join(f"{k}: {v}\n" for k, v in headers.items()) + "\n" + body
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# ---------------------------------------------------------------- every real file


def test_real_files_are_there():
    assert len(FILES) == 155, "run the tests from the project directory, ../shared beside it"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EMAIL)))
def test_every_real_file_reads_or_says_why(path):
    messages = _records(path)
    assert messages, "a mail file gives at least one message or one problem"
    for m in messages:
        assert (m.record is None) != (m.problem is None)
        if m.problem:
            assert not m.problem.startswith("cannot read:"), m.problem  # a reader bug, caught
            continue
        r = m.record
        assert r["kind"] in ("message", "auto_reply", "receipt", "bounce", "complaint", "report")
        assert r["message_id"] or r["hash"].startswith("sha256:")
        assert r["date"] is None or (len(r["date"]) == 20 and r["date"].endswith("Z"))
        for _, addr in r["from"] + r["to"] + r["cc"]:
            assert addr == addr.lower() and "@" in addr
        if r["body"]:
            assert len(r["body"]) <= mail_in.BODY_LIMIT + 40 and "\r" not in r["body"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EMAIL)))
def test_the_fast_parse_reads_what_the_stdlib_parse_reads(monkeypatch, path):
    fast = [(m.record, m.problem) for m in _records(path)]
    monkeypatch.setattr(mail_in, "FAST_PARSE", False)
    assert fast == [(m.record, m.problem) for m in _records(path)]


def test_reading_in_a_worker_process_gives_the_same_messages():
    from datetime import UTC, datetime

    now = datetime(2026, 3, 10, tzinfo=UTC)
    here, there = mail_in.Walk(), mail_in.Walk()
    expected = list(mail_in.read([EMAIL], here, now))
    assert list(mail_in.read_in_worker([EMAIL], there, now)) == expected
    assert (there.files, there.skipped) == (here.files, here.skipped)


def test_a_large_import_reads_in_a_worker_with_the_same_result(crm, monkeypatch):
    _add(crm, "John Doe", "jdoe@machine.example")
    _, alone = _import(crm, EMAIL / "mikel-mail", extra=("--dry-run",))
    monkeypatch.setattr(mail_in, "PARALLEL_BYTES", 0)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no worker")
    assert mail_in._worth_a_worker([EMAIL / "mikel-mail"])
    _, worker = _import(crm, EMAIL / "mikel-mail", extra=("--dry-run",))
    assert worker == alone


@pytest.mark.parametrize("folder", FOLDERS, ids=str)
def test_every_real_folder_imports_with_counts_that_add_up(crm, tmp_path, folder):
    _add(crm, "Mary Smith", "mary@example.net")
    _add(crm, "Bob", "bob@example.com")
    r, res = _import(crm, EMAIL / folder, ok=False, extra=("--rejects", str(tmp_path / "r.csv")))
    assert "Traceback" not in r.stderr
    assert r.exit_code in (0, 11), r.stderr
    assert res["created"] + res["unchanged"] + res["rejected"] == res["rows"]
    d = res["mail"]
    assert len(d["unreadable"]) == res["rejected"] == (r.exit_code == 11) * res["rejected"]
    for p in d["unreadable"]:
        assert p["where"].startswith(str(EMAIL)) and p["reason"]
    assert d["imported"] == res["created"]
    assert res["unchanged"] == d["already"] + d["no_contact"] + d["mail_system"]
    assert "mail from" in r.stderr and "messages read" in r.stderr


def test_the_whole_corpus_at_once(crm):
    r, res = _import(crm, EMAIL, ok=False)
    assert r.exit_code == 0, r.stderr
    d = res["mail"]
    assert res["rows"] == 159 and d["files"] == 158
    assert [Path(p).name for p in d["not_mail"]] == [
        "SOURCES.md", "mailbox_invalid.txt", "mailbox_valid.txt"]  # fmt: skip
    assert d["bounces"] == {"hard": 11, "soft": 5}
    assert (d["complaints"], d["read_receipts"]) == (3, 2)
    assert "not mail" in r.stderr


# ---------------------------------------------------------------- reading


def test_unmunged_mbox_gives_two_messages():
    msgs = _records(EMAIL / "mimekit/mbox/unmunged.mbox")
    assert len(msgs) == 2
    assert all("From Russia with love" in m.record["body"] for m in msgs)
    assert [m.where.rsplit("#", 1)[1] for m in msgs] == ["1", "2"]
    assert len(_records(EMAIL / "mimekit/mbox/issue1189.mbox")) == 4  # Gmail Takeout
    assert len(_records(EMAIL / "mimekit/mbox/simple.mbox")) == 1


def test_mbox_separators_escapes_and_dates(tmp_path):
    box = tmp_path / "box.mbox"
    box.write_bytes(
        b"From alice@example.com Mon Jan  5 10:00:00 2026\n"
        b"From: Alice <alice@example.com>\nSubject: one\n\n"
        b">From the start\nFrom me to you\n\n"
        b"From bob@example.com  Tue Jan  6 11:30:00 2026\n"
        b"From: bob@example.com\nSubject: two\n\nbody\n"
    )
    one, two = _records(box)
    assert one.record["body"] == "From the start\nFrom me to you"
    assert (one.record["date"], one.record["date_from"]) == ("2026-01-05T10:00:00Z", "mbox")
    assert two.record["subject"] == "two" and two.record["date"] == "2026-01-06T11:30:00Z"


def test_headers_in_rfc2047_and_raw_utf8_decode():
    r = _one(EMAIL / "mikel-mail/rfc6532/utf8_headers.eml")
    assert r["from"] == [("Jöhn Doe", "jdöe@mächine.example")]
    assert r["to"] == [("Märy Smith", "märy@exämple.net")]
    assert r["subject"] == "Säying Hello"
    assert _one(EMAIL / "mikel-mail/multi_charset/japanese.eml")["subject"] == "まみむめも"
    assert _one(EMAIL / "mikel-mail/multi_charset/japanese_iso_2022.eml")["subject"] == "まみむめも"
    sjis = _one(EMAIL / "mikel-mail/multi_charset/japanese_shift_jis.eml")
    assert sjis["body"].startswith("あいうえお")
    assert _one(EMAIL / "mikel-mail/multi_charset/ks_c_5601-1987.eml")["body"] == "스티해"
    jp = _one(EMAIL / "mimekit/messages/japanese.eml")
    assert jp["subject"].startswith("日本語メールテスト") and "日本語が" in jp["body"]
    assert _one(EMAIL / "mikel-mail/error_emails/bad_encoded_subject.eml")["subject"] == "TEST"
    name = _one(EMAIL / "flanker/from-encoding.eml")["from"][0][0]
    assert name == "Ingo Lütkebohle"
    assert _one(EMAIL / "flanker/encoded-header.eml")["from"] == [
        ("Foo, Bar", "foo.bar@example.com")
    ]


def test_obsolete_syntax_groups_and_comments():
    r = _one(EMAIL / "mikel-mail/rfc2822/example04.eml")
    assert [a for _, a in r["to"]] == ["c@a.test", "joe@where.test", "jdoe@one.test"]
    assert r["cc"] == []  # "Undisclosed recipients:;"
    r = _one(EMAIL / "mikel-mail/rfc2822/example10.eml")
    assert [a for _, a in r["to"]] == ["c@public.example", "joe@example.org", "jdoe@one.test"]
    assert r["from"][0][1] == "pete@silly.test"
    r = _one(EMAIL / "mikel-mail/rfc2822/example13.eml")  # 'From  :' and a comment in an address
    assert r["from"][0][1] == "jdoe@machine.example"


def test_wrong_charsets_and_html_bodies(tmp_path):
    p = tmp_path / "wrong.eml"
    p.write_bytes(
        b"From: a@example.com\nSubject: caf\xc3\xa9\nContent-Type: text/plain; charset=iso-8859-1"
        b"\n\nUTF-8 says caf\xc3\xa9 though Latin-1 was declared\n"
    )
    r = _one(p)
    assert r["subject"] == "café" and "says café though" in r["body"]
    p.write_bytes(b"From: a@example.com\nContent-Type: text/plain; charset=us-ascii\n\nna\xefve\n")
    assert _one(p)["body"] == "naïve"
    p.write_bytes(b"From: a@example.com\nContent-Type: text/plain; charset=x-nonsense\n\nok\n")
    assert _one(p)["body"] == "ok"
    html = ("<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
            "<p>Hello&nbsp;<b>Ana</b> &amp; team,</p><p>line one<br>line two</p>"
            "<ul><li>first</li><li>second</li></ul></body></html>")  # fmt: skip
    p.write_text(f"From: a@example.com\nContent-Type: text/html\n\n{html}\n", encoding="utf-8")
    assert _one(p)["body"] == "Hello Ana & team,\n\nline one\nline two\n\n- first\n- second"


def test_attachment_names_decode():
    def names(rel):
        return _one(EMAIL / rel)["attachments"]

    a = "mikel-mail/attachment_emails/"
    assert names(a + "attachment_nonascii_filename.eml") == ["ciële.txt"]
    assert names(a + "attachment_with_quoted_filename.eml") == ["Eelanalüüsi päring.jpg"]
    assert names(a + "attachment_with_base64_encoded_name.eml") == ["This is a test.pdf"]
    assert names(a + "attachment_message_rfc822.eml") == ["ForwardedMessage.eml"]
    assert names("mikel-mail/multi_charset/japanese_attachment.eml") == ["てすと.txt"]
    long = names("mikel-mail/multi_charset/japanese_attachment_long_name.eml")
    assert long == ["かきくけこ" * 5 + ".txt"]
    assert _records(EMAIL / "mimekit/mbox/issue1189.mbox")[1].record["attachments"] == [
        "Attachment.zip"]  # fmt: skip


def test_what_a_message_is():
    def kind(rel):
        r = _one(EMAIL / rel)
        return r["kind"], r["report"]

    k, rep = kind("mikel-mail/multipart_report_emails/report_422.eml")
    assert k == "bounce" and rep["recipients"][0]["address"] == "fraser@oooooooo.com.au"
    assert not rep["recipients"][0]["hard"] and rep["recipients"][0]["status"] == "4.2.2"
    k, rep = kind("mikel-mail/multipart_report_emails/multi_address_bounce1.eml")
    assert len(rep["recipients"]) == 5 and all(r["hard"] for r in rep["recipients"])
    k, rep = kind("mimekit/messages/bounce.eml")  # the per-recipient fields base64-encoded
    assert k == "bounce" and rep["recipients"][0]["status"] == "5.1.1"
    k, rep = kind("flanker/bounce/gmail-no-dns.eml")  # plain text, X-Failed-Recipients
    assert rep["recipients"][0]["address"] == "user@example.comm"
    k, rep = kind("flanker/bounce/broken-mime.eml")  # plain text, address the original's To
    assert rep["recipients"][0]["address"] == "info@example.net"
    k, rep = kind("flanker/complaints/aol.eml")
    assert k == "complaint" and rep["original_message_id"] == "<20101117174130.28884.55421@luna>"
    assert kind("flanker/disposition-notification.eml")[0] == "receipt"
    assert kind("flanker/long-links.eml")[0] == "message"  # from postmaster@, but a person's mail
    assert kind("mikel-mail/plain_emails/raw_email_reply.eml")[0] == "message"


def test_auto_replies_are_recognised_precisely(tmp_path):
    base = {"From": "ana@example.com", "To": "me@example.org", "Message-ID": "<x@y>"}
    cases = [
        ({"Auto-Submitted": "auto-replied", "Subject": "Re: offer"}, "auto_reply"),
        ({"Auto-Submitted": "no", "Subject": "Re: offer"}, "message"),
        ({"X-Autoreply": "yes", "Subject": "Re: offer"}, "auto_reply"),
        ({"Precedence": "auto_reply", "Subject": "hi"}, "auto_reply"),
        ({"Precedence": "bulk", "Subject": "Newsletter"}, "message"),
        ({"Subject": "Automatic reply: Your order"}, "auto_reply"),
        ({"Subject": "Out of Office: back Monday"}, "auto_reply"),
        ({"Subject": "Réponse automatique : absent"}, "auto_reply"),
        ({"Subject": "Re: planning the out of office party"}, "message"),
        ({"Subject": "Automatic replies are annoying, aren't they?"}, "message"),
        ({"Subject": "Delivery notification for your order", "From": "shop@example.com"},
         "message"),
    ]  # fmt: skip
    for headers, want in cases:
        got = _one(_eml(tmp_path, "m.eml", {**base, **headers}))["kind"]
        assert got == want, headers


# ---------------------------------------------------------------- importing


def test_rfc2822_reply_chain_is_one_thread_and_duplicates_are_already_there(crm):
    _add(crm, "John Doe", "jdoe@machine.example")
    _add(crm, "Mary Smith", "mary@example.net")
    r, res = _import(crm, EMAIL / "mikel-mail/rfc2822")
    d = res["mail"]
    assert d["already"] == 5  # example02/05/08/09/12 repeat example01's Message-ID
    john = crm.json("timeline", "jdoe@machine.example")
    hello = [a for a in john if (a["subject"] or "").endswith("Saying Hello")]
    assert len(hello) == 3 and len({a["thread_key"] for a in hello}) == 1
    assert hello[0]["thread_key"] == "<1234@local.machine.example>"
    thread = crm.json("timeline", f"thread:{hello[0]['id']}")
    assert [a["message_id"] for a in thread] == [
        "<1234@local.machine.example>", "<3456@example.net>", "<abcd.1234@local.machine.tld>"]  # fmt: skip
    table = crm("timeline", "jdoe@machine.example").stdout
    lines = [ln for ln in table.splitlines() if "Saying Hello" in ln and "1997-11-21" in ln]
    assert "↳" not in lines[0] and all("↳ Re: Saying Hello" in ln for ln in lines[1:])
    crm.fails("timeline", "thread:999", code=3)


def test_replies_imported_before_their_parents_join_one_thread(crm, tmp_path):
    _add(crm, "Ana", "ana@example.com")
    h = {"From": "ana@example.com", "To": "me@example.org", "Date": "Mon, 5 Jan 2026 10:00 +0000"}
    # c replies to b naming only b (In-Reply-To); b replies to a with full References.
    c = _eml(tmp_path, "c.eml", {**h, "Message-ID": "<c@x>", "In-Reply-To": "<b@x>", "Subject": "Re: Re: plan"})  # fmt: skip
    b = _eml(tmp_path, "b.eml", {**h, "Message-ID": "<b@x>", "In-Reply-To": "<a@x>", "References": "<a@x>", "Subject": "Re: plan"})  # fmt: skip
    a = _eml(tmp_path, "a.eml", {**h, "Message-ID": "<a@x>", "Subject": "plan"})
    _import(crm, c)
    _import(crm, b)
    _import(crm, a)
    rows = _rows("SELECT message_id, thread_key FROM mail_messages ORDER BY message_id")
    assert {r["thread_key"] for r in rows} == {"<a@x>"} and len(rows) == 3
    # The Thunderbird reply: its References name the root.
    _add(crm, "Testing", "xxxxxxxx@xxx.org")
    _import(crm, EMAIL / "mikel-mail/plain_emails/raw_email_reply.eml")
    (row,) = _rows("SELECT * FROM mail_messages WHERE message_id = '<473FFE27.20003@xxx.org>'")
    assert row["thread_key"] == "<473FF3B8.9020707@xxx.org>"
    assert row["in_reply_to"] == "<348F04F142D69C21-291E56D292BC@xxxx.net>"
    parent = _eml(tmp_path, "p.eml", {"From": "xxxxxxxx@xxx.org", "Message-ID": "<348F04F142D69C21-291E56D292BC@xxxx.net>", "In-Reply-To": "<473FF3B8.9020707@xxx.org>", "Subject": "Test reply email"})  # fmt: skip
    _import(crm, parent)
    keys = {r["thread_key"] for r in _rows("SELECT thread_key FROM mail_messages WHERE from_addr = 'xxxxxxxx@xxx.org'")}  # fmt: skip
    assert keys == {"<473FF3B8.9020707@xxx.org>"}


def test_message_on_timeline_direction_org_attachments_channel(crm, tmp_path):
    crm("org", "add", "Acme")
    ana = _add(crm, "Ana", "ana@acme.example")
    crm("contact", "edit", str(ana), "--org", "Acme")
    _add(crm, "Bob", "bob@acme.example")
    crm("contact", "edit", "bob@acme.example", "--org", "Acme")
    box = tmp_path / "Sent.mbox"
    box.write_bytes(
        b"From - \nFrom: Me <ME@Example.org>\nTo: Ana <ana@acme.example>\nCc: bob@acme.example,"
        b" carla@else.example\nSubject: Offer\nMessage-ID: <o1@example.org>\n"
        b"Date: Tue, 3 Mar 2026 10:00:00 +0100\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nHere it is.\n--b\nContent-Type: application/pdf\n"
        b"Content-Disposition: attachment; filename*=UTF-8''oferta%20a%C3%B1o.pdf\n\nJVBERi0=\n--b--\n"
    )
    r, res = _import(crm, box, extra=("--own", "me@example.org"))
    (a,) = crm.json("timeline", "ana@acme.example")
    assert (a["kind"], a["direction"], a["subject"], a["org"]) == ("email", "out", "Offer", "Acme")
    assert a["body"] == "Here it is.\n\nAttachments: oferta año.pdf"
    assert a["channel"] == "mail: Sent" and a["occurred_at"] == "2026-03-03T09:00:00Z"
    assert sorted(c["name"] for c in a["contacts"]) == ["Ana", "Bob"]
    assert res["mail"]["unknown"] == {"carla@else.example": 1}
    assert crm.json("contact", "show", "ana@acme.example")["last_activity_at"] == a["occurred_at"]


def test_reimport_creates_nothing_and_dry_run_writes_nothing(crm):
    _add(crm, "John Doe", "jdoe@machine.example")
    _add(crm, "Mary Smith", "mary@example.net")
    _add(crm, "Fraser", "fraser@oooooooo.com.au")
    paths = [EMAIL / "mikel-mail/rfc2822", EMAIL / "mikel-mail/multipart_report_emails"]
    r, dry = _import(crm, *paths, extra=("--dry-run",))
    assert dry["dry_run"] and "nothing was written" in r.stderr
    assert _rows("SELECT count(*) AS n FROM mail_messages")[0]["n"] == 0
    assert _rows("SELECT count(*) AS n FROM activities")[0]["n"] == 0
    assert _email_status("fraser@oooooooo.com.au")[0] == "ok"
    assert crm.json("import", "list") == []
    r, first = _import(crm, *paths)
    assert (first["created"], first["rejected"]) == (dry["created"], dry["rejected"])
    assert first["created"] == 6 and _email_status("fraser@oooooooo.com.au")[0] == "deferred"
    sets = _rows("SELECT count(*) AS n FROM change_sets")[0]["n"]
    r, again = _import(crm, *paths)
    assert again["created"] == 0 and again["unchanged"] == again["rows"] == first["rows"]
    # Every message recorded the first time is already there (example03 too: example11,
    # imported, has its Message-ID -- the RFC's examples reuse ids).
    assert again["mail"]["already"] == first["created"] + first["mail"]["already"] + 1
    assert "changed nothing" in r.stderr
    assert _rows("SELECT count(*) AS n FROM change_sets")[0]["n"] == sets
    imports = crm.json("import", "list")
    assert [i["kind"] for i in imports] == ["mail", "mail"]
    assert "multipart_report_emails" in imports[0]["source"]


def test_dsn_bounces_mark_addresses_bounced_or_deferred(crm):
    who = {
        "fraser@oooooooo.com.au": "deferred",  # report_422: delayed, 4.2.2 mailbox full
        "edwin@zzzzzzz.com": "bounced",  # report_530: failed 5.3.0
        "u@ci.com": "bounced",  # multipart_report_multiple_status
        "kfhejkfbsjkjsbhds@gmail.com": "bounced",  # multi_address_bounce1, one of five
        "larose.julie@courrier.uqam.ca": "deferred",  # mime_emails: a warning DSN
        "user@aol.com": "bounced",  # flanker mailbox-full: failed 5.2.2
        "foo@example.com": "deferred",  # flanker delayed: failed after retries, 4.0.0
        "demo@example.com": "deferred",  # flanker delayed-broken: failed 4.2.2
        # flanker no-mx: delayed 4.4.4; mimekit's feedback report: a complaint, which ranks
        # above a deferral (whatever order they are imported in)
        "user@example.com": "complained",
        "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com": "bounced",  # zed
        "awfawfawfawfawfaw@someserverhere.com": "bounced",  # Gmail plain text
        "user@example.comm": "bounced",  # Gmail, no DNS
        "info@example.net": "bounced",  # plain-text bounce of an old MTA
        "netec.test@netecgc.com": "bounced",  # mimekit: base64 DSN fields
        "newsletter-request@imusic.com": "bounced",  # mimekit delivery-status: X-LOCAL 500
    }
    for n, addr in enumerate(who):
        _add(crm, f"Person {n}", addr)
    paths = [EMAIL / "mikel-mail/multipart_report_emails", EMAIL / "mikel-mail/mime_emails",
             EMAIL / "flanker/bounce", EMAIL / "mimekit/messages"]  # fmt: skip
    r, res = _import(crm, *paths)
    assert {a: _email_status(a)[0] for a in who} == who
    assert "Mailbox full" in _email_status("fraser@oooooooo.com.au")[1]
    assert _email_status("edwin@zzzzzzz.com")[1].startswith("553 5.3.0")
    d = res["mail"]
    assert d["addresses_bounced"] == 10 and d["addresses_deferred"] == 5 and d["opted_out"] == 1
    # A bounce is not an interaction: no activity, nothing on the timeline.
    assert crm.json("timeline", "edwin@zzzzzzz.com") == []
    kinds = _rows("SELECT kind, count(*) AS n FROM mail_messages GROUP BY kind ORDER BY kind")
    assert {k["kind"]: k["n"] for k in kinds}["bounce"] >= 9
    assert all(m["activity_id"] is None for m in _rows(
        "SELECT activity_id FROM mail_messages WHERE kind IN ('bounce', 'deferral')"))  # fmt: skip


def test_a_soft_bounce_never_undoes_a_hard_one_whatever_the_order(crm, tmp_path):
    _add(crm, "Ana", "ana@example.com")

    def dsn(name, action, status, date):
        return _eml(tmp_path, name, {
            "From": "MAILER-DAEMON@mx.example", "To": "me@example.org",
            "Subject": "Undelivered Mail Returned to Sender", "Date": date,
            "Message-ID": f"<{name}@mx>", "MIME-Version": "1.0",
            "Content-Type": 'multipart/report; report-type=delivery-status; boundary="z"',
        }, "--z\nContent-Type: text/plain\n\nSorry.\n--z\nContent-Type: message/delivery-status\n\n"
           f"Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; ana@example.com\nAction: {action}\n"
           f"Status: {status}\nDiagnostic-Code: smtp; {status} it failed\n--z--\n")  # fmt: skip

    hard = dsn("hard", "failed", "5.1.1", "Mon, 5 Jan 2026 10:00 +0000")
    soft = dsn("soft", "delayed", "4.4.1", "Tue, 6 Jan 2026 10:00 +0000")
    _import(crm, soft)
    assert _email_status("ana@example.com")[0] == "deferred"
    _import(crm, hard)
    assert _email_status("ana@example.com") == ("bounced", "5.1.1 it failed")
    _import(crm, dsn("later", "delayed", "4.4.1", "Wed, 7 Jan 2026 10:00 +0000"))
    assert _email_status("ana@example.com")[0] == "bounced"


def test_complaints_opt_the_contact_out(crm):
    _add(crm, "Yahoo user", "user@yahoo.com")
    _add(crm, "Example user", "user@example.com")
    r, res = _import(
        crm, EMAIL / "flanker/complaints", EMAIL / "mimekit/messages/feedback-report.eml"
    )
    for addr in ("user@yahoo.com", "user@example.com"):
        assert _email_status(addr) == ("complained", "complaint (abuse)")
        c = crm.json("contact", "show", addr)
        assert c["consent"] == "opted_out" and c["consent_at"]
    assert res["mail"]["complaints"] == 3 and res["mail"]["opted_out"] == 2
    assert res["mail"]["no_contact"] == 1  # AOL's report redacts the address: nobody to find


def _campaign(ana: int, message_id: str, email: str = "ana@example.com") -> int:
    from crm_cli.storage.db import open_db, transaction

    db = open_db(os.environ["CRM_DB"])
    db.actor = "tester"
    try:
        with transaction(db, "test campaign") as tx:
            cid = tx.insert("campaigns", {"name": message_id, "created_at": tx.at,
                                          "updated_at": tx.at, "status": "done"})  # fmt: skip
            return tx.insert("campaign_recipients", {
                "campaign_id": cid, "contact_id": ana, "email": email, "state": "sent",
                "message_id": message_id,
            })  # fmt: skip
    finally:
        db.close()


def test_replies_bounces_and_complaints_link_to_the_campaign_recipient(crm, tmp_path):
    ana = _add(crm, "Ana", "ana@example.com")
    rid = _campaign(ana, "<camp1@shop.example>")
    h = {"From": "Ana <ana@example.com>", "To": "news@shop.example", "Date": "Mon, 5 Jan 2026 10:00 +0000"}  # fmt: skip
    reply = _eml(tmp_path, "r1.eml", {**h, "Message-ID": "<r1@ana>", "In-Reply-To": "<camp1@shop.example>", "Subject": "Re: Spring sale"})  # fmt: skip
    ours = _eml(tmp_path, "o1.eml", {"From": "news@shop.example", "To": "ana@example.com", "Message-ID": "<o1@shop>", "In-Reply-To": "<r1@ana>", "References": "<camp1@shop.example> <r1@ana>", "Subject": "Re: Re: Spring sale"})  # fmt: skip
    again = _eml(tmp_path, "r2.eml", {**h, "Message-ID": "<r2@ana>", "In-Reply-To": "<o1@shop>", "Subject": "Re: Re: Re: Spring sale"})  # fmt: skip
    ooo = _eml(tmp_path, "ooo.eml", {**h, "Message-ID": "<ooo@ana>", "In-Reply-To": "<camp1@shop.example>", "Auto-Submitted": "auto-replied", "Subject": "Out of office"})  # fmt: skip
    r, res = _import(crm, reply, ours, again, ooo, extra=("--own", "@shop.example"))
    rows = {m["message_id"]: m for m in _rows("SELECT * FROM mail_messages")}
    assert rows["<r1@ana>"]["recipient_id"] == rid and rows["<r1@ana>"]["kind"] == "message"
    assert rows["<o1@shop>"]["recipient_id"] == rid and rows["<o1@shop>"]["direction"] == "out"
    assert rows["<r2@ana>"]["recipient_id"] == rid  # follows the thread through our reply
    assert rows["<ooo@ana>"]["kind"] == "auto_reply" and rows["<ooo@ana>"]["recipient_id"] == rid
    assert {m["thread_key"] for m in rows.values()} == {"<camp1@shop.example>"}
    assert res["mail"]["campaign_replies"] == 2 and res["mail"]["auto_replies"] == 1
    ooo_activity = [a for a in crm.json("timeline", "ana@example.com") if a["outcome"]]
    assert [a["outcome"] for a in ooo_activity] == ["auto-reply"]
    # A bounce whose original is the campaign message: the recipient's address bounces,
    # though the DSN names an address forwarded to.
    bob = _add(crm, "Bob", "bob@old.example")
    brid = _campaign(bob, "<camp2@shop.example>", "bob@old.example")
    dsn = _eml(tmp_path, "dsn.eml", {
        "From": "MAILER-DAEMON@mx.example", "To": "news@shop.example", "Message-ID": "<d1@mx>",
        "Subject": "Undelivered Mail Returned to Sender",
        "Content-Type": 'multipart/report; report-type=delivery-status; boundary="z"',
    }, "--z\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
       "Final-Recipient: rfc822; bob@new.example\nAction: failed\nStatus: 5.1.1\n--z\n"
       "Content-Type: text/rfc822-headers\n\nFrom: news@shop.example\nTo: bob@old.example\n"
       "Message-ID: <camp2@shop.example>\nSubject: Spring sale\n--z--\n")  # fmt: skip
    _import(crm, dsn)
    (b,) = _rows("SELECT * FROM mail_messages WHERE message_id = '<d1@mx>'")
    assert (b["kind"], b["recipient_id"]) == ("bounce", brid)
    assert _email_status("bob@old.example")[0] == "bounced"
    # AOL's complaint redacts the address; its original Message-ID finds the recipient.
    cleo = _add(crm, "Cleo", "cleo@aol.example")
    crid = _campaign(cleo, "<20101117174130.28884.55421@luna>", "cleo@aol.example")
    _import(crm, EMAIL / "flanker/complaints/aol.eml")
    (c,) = _rows("SELECT * FROM mail_messages WHERE kind = 'complaint'")
    assert c["recipient_id"] == crid
    assert crm.json("contact", "show", str(cleo))["consent"] == "opted_out"


def test_revert_removes_everything_and_restores_statuses(crm):
    _add(crm, "John Doe", "jdoe@machine.example")
    _add(crm, "Fraser", "fraser@oooooooo.com.au")
    _add(crm, "Yahoo user", "user@yahoo.com")
    before = {t: _rows(f"SELECT count(*) AS n FROM {t}")[0]["n"]
              for t in ("contacts", "emails", "activities", "activity_participants", "mail_messages")}  # fmt: skip
    r, res = _import(crm, EMAIL / "mikel-mail/rfc2822", EMAIL / "mikel-mail/multipart_report_emails",
                     EMAIL / "flanker/complaints",
                     extra=("--create-contacts", "--own", "nobody@own.example"))  # fmt: skip
    assert res["mail"]["contacts_created"] and res["created"]
    assert _email_status("fraser@oooooooo.com.au")[0] == "deferred"
    assert crm.json("contact", "show", "user@yahoo.com")["consent"] == "opted_out"
    out = crm("import", "revert", str(res["import_id"])).stdout
    assert "reverted import" in out
    after = {t: _rows(f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in before}
    assert after == before
    assert _email_status("fraser@oooooooo.com.au") == ("ok", None)
    assert _email_status("user@yahoo.com") == ("ok", None)
    assert crm.json("contact", "show", "user@yahoo.com")["consent"] == "unknown"
    assert crm.json("contact", "show", "jdoe@machine.example")["last_activity_at"] is None


def test_create_contacts_makes_leads_of_people_not_robots(crm, tmp_path):
    h = {"Date": "Mon, 5 Jan 2026 10:00 +0000"}
    msgs = [
        _eml(
            tmp_path,
            "1.eml",
            {
                **h,
                "From": '"Zoë Q. (work)" <zoe@client.example>',
                "To": "me@mine.example, Yann <yann@client.example>",
                "Message-ID": "<1@c>",
                "Subject": "Hi",
            },
        ),  # fmt: skip
        _eml(
            tmp_path,
            "2.eml",
            {
                **h,
                "From": "no-reply@service.example",
                "To": "me@mine.example",
                "Message-ID": "<2@c>",
                "Subject": "Your receipt",
            },
        ),  # fmt: skip
        _eml(
            tmp_path,
            "3.eml",
            {
                **h,
                "From": "zoe@client.example",
                "To": "me@mine.example",
                "Message-ID": "<3@c>",
                "Subject": "Again",
            },
        ),  # fmt: skip
    ]
    r, res = _import(crm, *msgs)
    # Without our own addresses a To may be us: only senders are listed.
    assert res["mail"]["unknown"] == {"zoe@client.example": 2}
    assert res["mail"]["no_contact"] == 3 and res["created"] == 0
    assert "--create-contacts makes them leads" in r.stderr
    assert "no own addresses known" in r.stderr
    r, res = _import(crm, *msgs, extra=("--own", "me@mine.example"))
    assert res["mail"]["unknown"] == {"zoe@client.example": 2, "yann@client.example": 1}
    r, res = _import(crm, *msgs, extra=("--create-contacts", "--own", "me@mine.example"))
    assert sorted(res["mail"]["contacts_created"]) == ["yann@client.example", "zoe@client.example"]
    zoe = crm.json("contact", "show", "zoe@client.example")
    assert (zoe["name"], zoe["stage"], zoe["source"]) == ("Zoë Q.", "lead", "email")
    assert len(crm.json("timeline", "zoe@client.example")) == 2
    assert res["created"] == 2 and res["mail"]["no_contact"] == 1  # the no-reply receipt
    crm.fails("contact", "show", "no-reply@service.example", code=3)
    crm.fails("contact", "show", "me@mine.example", code=3)


def test_a_maildir_built_here(crm, tmp_path):
    _add(crm, "Ana", "ana@example.com")
    root = tmp_path / "Mail"
    for folder in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
    (root / "new" / "1700000000.1.host").write_bytes(
        b"From: Ana <ana@example.com>\r\nTo: me@example.org\r\nSubject: Question\r\n"
        b"Message-ID: <q@ana>\r\nDate: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHow much?\r\n"
    )
    (root / ".Sent" / "cur" / "1700000001.2.host:2,S").write_bytes(
        b"From: me@example.org\nTo: ana@example.com\nSubject: Re: Question\nMessage-ID: <a@me>\n"
        b"In-Reply-To: <q@ana>\nDate: Mon, 5 Jan 2026 11:00:00 +0000\n\nTen.\n"
    )
    (root / "tmp" / "1700000002.3.host").write_bytes(b"From: ana@example.com\n\nhalf-delivered\n")
    r, res = _import(crm, root, extra=("--own", "me@example.org"))
    assert (res["rows"], res["created"], res["mail"]["files"]) == (2, 2, 2)
    tl = crm.json("timeline", "ana@example.com")
    assert [(a["direction"], a["channel"], a["body"]) for a in tl] == [
        ("out", "mail: Sent", "Ten."), ("in", "mail: Mail", "How much?")]  # fmt: skip
    assert tl[0]["thread_key"] == tl[1]["thread_key"] == "<q@ana>"


def test_unreadable_messages_are_reported_with_path_and_reason(crm, tmp_path):
    _add(crm, "Ana", "ana@example.com")
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.eml"
    junk.write_bytes(b"\x00\x01 this is not mail at all\n")
    good = _eml(tmp_path, "good.eml", {"From": "ana@example.com", "Subject": "ok"})
    r, res = _import(crm, junk, empty, ok=False, extra=("--rejects", str(tmp_path / "r.csv")))
    assert r.exit_code == 1 and res["rejected"] == 2
    reasons = {Path(p["where"]).name: p["reason"] for p in res["mail"]["unreadable"]}
    assert reasons == {"junk.eml": "not a mail message: it does not start with header lines",
                       "empty.eml": "empty message"}  # fmt: skip
    assert "unreadable: " + str(junk) in r.stderr
    r, res = _import(crm, junk, good, ok=False, extra=("--rejects", str(tmp_path / "rj.csv")))
    assert r.exit_code == 11 and res["created"] == 1
    assert "junk.eml" in (tmp_path / "rj.csv").read_text(encoding="utf-8")
    crm.fails("import", "mail", str(tmp_path / "missing.mbox"), code=3)


def test_a_folder_of_files_that_are_not_mail_is_said_not_rejected(crm, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("shopping list\n", encoding="utf-8")
    (folder / ".hidden").write_text("x", encoding="utf-8")
    r, res = _import(crm, folder)
    assert r.exit_code == 0 and res["rows"] == 0
    assert [Path(p).name for p in res["mail"]["not_mail"]] == ["notes.txt"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise_out_of_the_reader(data):
    out = mail_in.parse(data)
    assert set(out) in ({"record"}, {"problem"})


_HEADERS = st.sampled_from(["From", "To", "Cc", "Subject", "Date", "Message-ID", "References",
                            "In-Reply-To", "Content-Type", "Content-Transfer-Encoding",
                            "Content-Disposition", "Auto-Submitted", "X-Failed-Recipients"])  # fmt: skip
_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["multipart/report; report-type=delivery-status; boundary=b",
                     "multipart/mixed; boundary=b", "text/html; charset=ks_c_5601-1987",
                     "message/delivery-status", "base64", "=?utf-8?B?w6k=?= <a@b.c>",
                     "=?x?Q?=FF?=", "<a@b> <c@d>", "Mon, 32 Foo 99999 99:99 +9999"]),
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADERS, _VALUES), max_size=8), st.binary(max_size=500))
def test_mail_shaped_garbage_never_raises(headers, body):
    text = "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8", "surrogatepass")
    out = mail_in.parse(text + b"\n--b\nContent-Type: message/delivery-status\n\n" + body)
    assert set(out) in ({"record"}, {"problem"})
    if "problem" in out:
        assert not out["problem"].startswith("cannot read:"), out["problem"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_mbox_bodies_never_raise(tmp_path_factory, data):
    box = tmp_path_factory.mktemp("box") / "x.mbox"
    box.write_bytes(b"From - \nFrom: a@b.example\n\n" + data + b"\n\nFrom - \n" + data)
    for m in mail_in.read([box]):
        assert (m.record is None) != (m.problem is None)
