"""crm doctor: one database with one instance of every problem, each found once with its
severity and a fix; running the fixes leaves a clean database; cron-friendly exits."""

from __future__ import annotations

import json
import shlex
import sqlite3

import pytest

WHEN = "Wed, 04 Mar 2026 10:00:00 +0100"


def _db(isolated) -> sqlite3.Connection:
    return sqlite3.connect(isolated / "crm.db", isolation_level=None)


def _id(result) -> int:
    return int(result.stdout.strip().splitlines()[-1])


def _dsn(name: str, rcpt: str, original: str, *, hard: bool) -> str:
    action, status = ("failed", "5.1.1") if hard else ("delayed", "4.4.1")
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
        "To: news@shop.example\nSubject: Delivery Status Notification\n"
        f"Date: {WHEN}\nMessage-ID: <{name}@mx.example.com>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nDelivery problem.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status} mailbox problem\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"From: news@shop.example\nTo: {rcpt}\nSubject: Spring\nMessage-ID: {original}\n\n--B--\n"
    )


def _config(isolated) -> None:
    (isolated / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n'
        '[campaign]\nfrom = "Shop <news@shop.example>"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n\n'
        '[mail]\nown_addresses = ["news@shop.example"]\n',
        encoding="utf-8",
    )


@pytest.fixture
def sick(crm, isolated, monkeypatch):
    """A database with one instance of every problem doctor looks for; returns the ids."""
    _config(isolated)
    ids = {}
    add = lambda *a: _id(crm("contact", "add", *a))  # noqa: E731
    ids["ana"] = add(
        "Ana Ruiz", "--email", "ana@example.com", "--tag", "mail", "--consent", "granted"
    )
    ids["bea"] = add(
        "Bea Soto", "--email", "bea@example.com", "--tag", "mail", "--consent", "granted"
    )
    ids["carl"] = add("Carl Vidal", "--email", "carl@example.com", "--consent", "granted")
    ids["dan"] = add("Dan Pérez", "--email", "dan@example.com", "--phone", "work=12345",
                     "--org", "Acme SL", "--consent", "granted")  # fmt: skip
    ids["eva"] = add("Eva Martín", "--email", "eva@example.com", "--consent", "granted")
    ids["eva2"] = add("Eva Martin", "--email", "eva@example.com")
    ids["flo"] = add("Flo Nieto", "--email", "flo@example.com", "--tag", "news")
    ids["gus"] = add(
        "Gus Lara", "--email", "gus@example.com", "--tag", "news", "--consent", "granted"
    )
    ids["ghost"] = _id(crm("org", "add", "Ghost SL"))
    # A campaign sent to Ana and Bea; Ana's address bounces hard, Bea's is deferred 3 times.
    crm("segment", "add", "mail", "tag:mail")
    tpl = isolated / "t.txt"
    tpl.write_text("Hi {{ first_name }}\n", encoding="utf-8")
    crm(
        "campaign",
        "add",
        "spring",
        "--segment",
        "mail",
        "--subject",
        "Spring",
        "--template",
        str(tpl),
    )
    crm("campaign", "send", "spring", "--outbox", str(isolated / "outbox"))
    db = _db(isolated)
    mids = dict(db.execute("SELECT email, message_id FROM campaign_recipients"))
    box = isolated / "bounces"
    box.mkdir()
    (box / "hard.eml").write_text(
        _dsn("hard", "ana@example.com", mids["ana@example.com"], hard=True)
    )
    for i in range(3):
        (box / f"soft{i}.eml").write_text(
            _dsn(f"soft{i}", "bea@example.com", mids["bea@example.com"], hard=False)
        )
    crm("import", "mail", str(box))
    # Ana's address is removed and typed in again: a fresh row marked ok, bounce or not.
    crm("contact", "edit", str(ids["ana"]), "--remove-email", "ana@example.com")
    crm("contact", "edit", str(ids["ana"]), "--add-email", "ana@example.com")
    # A draft campaign to the 'news' segment: Flo's consent is unknown.
    crm("segment", "add", "news", "tag:news")
    crm(
        "campaign",
        "add",
        "summer",
        "--segment",
        "news",
        "--subject",
        "Summer",
        "--template",
        str(tpl),
    )
    # Deals: one linked to nothing, one untouched since January.
    ids["lonely"] = _id(crm("deal", "add", "Lonely deal"))
    monkeypatch.setenv("CRM_NOW", "2026-01-02T10:00:00+01:00")
    ids["old"] = _id(crm("deal", "add", "Old deal", "--org", "Acme SL"))
    # A ticket opened on 1 March, never answered (normal: 1 day to respond).
    monkeypatch.setenv("CRM_NOW", "2026-03-01T10:00:00+01:00")
    ids["ticket"] = _id(crm("ticket", "open", "Printer on fire", "--contact", str(ids["dan"])))
    monkeypatch.setenv("CRM_NOW", "2026-03-10T09:00:00+01:00")
    ids["call"] = _id(
        crm("followup", "add", "Call Dan", "--contact", str(ids["dan"]), "--due", "2026-03-01")
    )
    ids["ping"] = _id(
        crm("followup", "add", "Ping Gus", "--contact", str(ids["gus"]), "--due", "+7d")
    )
    ids["note"] = _id(crm("log", "note", "Met at the fair", "--contact", str(ids["gus"])))
    # What only an old import or a hand edit leaves: an invalid address stored, an
    # activity with nobody on it, a follow-up pointing at a deleted contact.
    db.execute("UPDATE emails SET value = 'carl@example.com.' WHERE value = 'carl@example.com'")
    db.execute("DELETE FROM activity_participants WHERE activity_id = ?", (ids["note"],))
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("UPDATE followups SET contact_id = 9999 WHERE id = ?", (ids["ping"],))
    db.close()
    return ids


def _doctor(crm, *args):
    r = crm("doctor", "--json", *args, ok=False)
    assert r.exit_code in (0, 10), (r.exit_code, r.stderr)
    return r, json.loads(r.stdout)


def test_every_problem_found_once_with_its_severity_and_fix(crm, sick):
    r, out = _doctor(crm)
    assert r.exit_code == 10
    got = {(f["check"], f["ref"]): f for f in out["findings"]}
    expected = {
        ("emails", "email:carl@example.com."): "error",
        ("emails", "email:ana@example.com"): "error",
        ("emails", "email:bea@example.com"): "warning",
        ("phones", f"contact:{sick['dan']}"): "warning",
        ("consent", f"contact:{sick['flo']}"): "warning",
        ("orphans", f"followup:{sick['ping']}"): "error",
        ("orphans", f"deal:{sick['lonely']}"): "warning",
        ("orphans", f"activity:{sick['note']}"): "warning",
        ("duplicates", f"contact:{sick['eva']}"): "warning",
        ("stale", f"deal:{sick['old']}"): "warning",
        ("overdue", f"followup:{sick['call']}"): "warning",
        ("tickets", f"ticket:{sick['ticket']}"): "warning",
        ("empty-orgs", f"org:{sick['ghost']}"): "info",
    }
    assert {k: f["severity"] for k, f in got.items()} == expected
    assert len(out["findings"]) == len(expected)  # each exactly once
    assert out["counts"] == {"emails": 3, "phones": 1, "consent": 1, "orphans": 3,
                             "duplicates": 1, "stale": 1, "overdue": 1, "tickets": 1,
                             "empty-orgs": 1}  # fmt: skip
    assert out["truncated"] == {}
    assert out["by_severity"] == {"error": 3, "warning": 9, "info": 1}
    fixes = {k: f["fix"] for k, f in got.items()}
    assert fixes[("emails", "email:carl@example.com.")] == (
        f"crm contact edit {sick['carl']} --remove-email carl@example.com."
        " --add-email carl@example.com"
    )
    assert fixes[("duplicates", f"contact:{sick['eva']}")] == (
        f"crm contact merge {sick['eva']} {sick['eva2']}"
    )
    assert fixes[("stale", f"deal:{sick['old']}")] == f"crm deal lost {sick['old']} --reason stale"
    assert fixes[("empty-orgs", f"org:{sick['ghost']}")] == f"crm org delete {sick['ghost']}"
    assert "hard bounce" in got[("emails", "email:ana@example.com")]["detail"]
    assert "deferred 3 times" in got[("emails", "email:bea@example.com")]["detail"]
    assert "summer" in got[("consent", f"contact:{sick['flo']}")]["detail"]
    assert "contact 9999" in got[("orphans", f"followup:{sick['ping']}")]["detail"]
    # Every fix is a crm command line: run them all, and nothing is left to find.
    for f in out["findings"]:
        words = shlex.split(f["fix"])
        assert words[0] == "crm"
        crm(*words[1:], input="")
    r, out = _doctor(crm)
    assert r.exit_code == 0, out["findings"]
    assert out["findings"] == [] and set(out["counts"].values()) == {0}


def test_a_few_fixes_remove_just_their_findings(crm, sick):
    _, out = _doctor(crm, "orphans", "phones")
    assert [f["check"] for f in out["findings"]] == ["phones", "orphans", "orphans", "orphans"]
    # Errors first within a check: the broken follow-up link leads.
    assert out["findings"][1]["ref"] == f"followup:{sick['ping']}"
    for f in out["findings"][:2]:
        crm(*shlex.split(f["fix"])[1:])
    _, after = _doctor(crm, "orphans", "phones")
    assert after["counts"] == {"phones": 0, "orphans": 2}
    refs = {f["ref"] for f in after["findings"]}
    assert refs == {f"deal:{sick['lonely']}", f"activity:{sick['note']}"}


def test_table_for_people_summary_on_stderr_exit_10(crm, sick):
    r = crm("doctor", "stale", "empty-orgs", ok=False)
    assert r.exit_code == 10
    assert "stale: 1" in r.stdout and "empty-orgs: 1" in r.stdout
    assert f"crm deal lost {sick['old']} --reason stale" in r.stdout
    assert r.stderr.strip() == "crm doctor: 2 findings (1 warning, 1 info) in 2 of 2 checks"


def test_limit_counts_the_rest_and_severity_filters(crm, sick):
    _, out = _doctor(crm, "emails", "--limit", "1")
    assert out["counts"] == {"emails": 3} and out["truncated"] == {"emails": 2}
    assert [f["severity"] for f in out["findings"]] == ["error"]
    _, out = _doctor(crm, "emails", "--limit", "0")
    assert out["findings"] == [] and out["truncated"] == {"emails": 3}
    r = crm("doctor", "emails", "--limit", "1", ok=False)
    assert "… and 2 more" in r.stdout
    # Only errors: the info and warnings are not reported, and not counted.
    r, out = _doctor(crm, "--severity", "error")
    assert r.exit_code == 10
    assert {f["severity"] for f in out["findings"]} == {"error"}
    assert out["by_severity"] == {"error": 3, "warning": 0, "info": 0}
    # Info alone is still a finding reported: exit 10 (cron: --severity warning).
    r, out = _doctor(crm, "empty-orgs")
    assert r.exit_code == 10 and out["counts"] == {"empty-orgs": 1}
    r, out = _doctor(crm, "empty-orgs", "--severity", "warning")
    assert r.exit_code == 0 and out["counts"] == {"empty-orgs": 0}


def test_days_and_segment_options(crm, sick):
    _, out = _doctor(crm, "overdue")
    assert "9 days overdue (limit 3)" in out["findings"][0]["detail"]
    _, out = _doctor(crm, "overdue", "--days", "10")
    assert out["counts"] == {"overdue": 0}
    # A segment named with --segment counts as mailed: Eva Martin's consent is unknown.
    crm("contact", "tag", str(sick["eva2"]), "vip")
    crm("segment", "add", "vips", "tag:vip")
    _, out = _doctor(crm, "consent", "--segment", "vips")
    assert {f["ref"] for f in out["findings"]} == {
        f"contact:{sick['flo']}",
        f"contact:{sick['eva2']}",
    }
    crm.fails("doctor", "consent", "--segment", "nosuch", code=3)


def test_fixes_name_the_database_given_with_db(crm, sick, isolated):
    path = str(isolated / "crm.db")
    r = crm("--db", path, "doctor", "empty-orgs", "--json", ok=False)
    fix = json.loads(r.stdout)["findings"][0]["fix"]
    assert fix == shlex.join(["crm", "--db", path, "org", "delete", str(sick["ghost"])])


def test_duplicates_bounded_on_big_databases(crm, sick, monkeypatch):
    from crm_cli.domain import doctor

    monkeypatch.setattr(doctor, "DUPES_MAX_CONTACTS", 3)
    r, out = _doctor(crm, "duplicates")
    # The 3 most recently changed contacts hold no pair: nothing found, and said so.
    assert out["counts"] == {"duplicates": 0}
    assert "the 3 most recently changed of 8 contacts" in out["notes"]["duplicates"]
    assert r.exit_code == 0 and r.stderr == ""  # quiet without a terminal
    monkeypatch.setenv("CRM_NOW", "2026-03-10T10:00:00+01:00")
    for who in ("eva", "eva2"):  # now among the 3 most recently changed
        crm("contact", "edit", str(sick[who]), "--title", "CTO")
    r, out = _doctor(crm, "duplicates")
    assert out["counts"] == {"duplicates": 1}
    assert "most recently changed" in r.stderr


def test_clean_database_is_quiet_and_exits_0(crm):
    crm("contact", "add", "Ana Ruiz", "--email", "ana@example.com", "--phone", "+34 600 123 456",
        "--org", "Acme SL")  # fmt: skip
    r = crm("doctor")
    assert r.stdout == "" and r.stderr == ""  # no terminal: cron mails nothing
    r = crm("doctor", "--json")
    out = json.loads(r.stdout)
    assert out["findings"] == [] and out["truncated"] == {}
    assert out["counts"] == dict.fromkeys(
        ["emails", "phones", "consent", "orphans", "duplicates", "stale", "overdue",
         "tickets", "empty-orgs"], 0)  # fmt: skip


def test_unknown_check_and_missing_database(crm):
    r = crm.fails("doctor", "emails", "nosuch", code=1)
    assert "unknown check 'nosuch'" in r.stderr and "empty-orgs" in r.stderr
    crm.fails("doctor", "--severity", "loud", code=1)
    crm.fails("doctor", code=3)  # no database yet


def test_contact_edit_removes_a_stored_value_that_no_longer_validates(crm, isolated):
    cid = _id(crm("contact", "add", "Ana", "--email", "ana@example.com", "--phone", "12345"))
    db = _db(isolated)
    db.execute("UPDATE emails SET value = 'ana@@example.com'")
    db.close()
    crm(
        "contact", "edit", str(cid), "--remove-email", "ana@@example.com", "--remove-phone", "12345"
    )
    shown = crm.json("contact", "show", str(cid))
    assert shown["emails"] == [] and shown["phones"] == []
    crm.fails("contact", "edit", str(cid), "--remove-email", "bad@@x", code=1)
