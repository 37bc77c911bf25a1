"""crm alerts: each condition reported once until it changes; thresholds; remind folds them in."""

from __future__ import annotations

import json

import pytest

NOW = "2026-03-10T09:00:00+01:00"


def at(monkeypatch, when: str):
    monkeypatch.setenv("CRM_NOW", f"{when}:00+01:00".replace(" ", "T"))


def alerts(crm, *args):
    r = crm("alerts", *args, "--json", ok=False)
    assert r.exit_code in (0, 10), r.stderr
    return r.exit_code, json.loads(r.stdout)


@pytest.fixture
def office(crm, monkeypatch):
    crm("user", "add", "ana")
    crm("contact", "add", "Eva", "--email", "eva@example.com", "--owner", "ana")
    crm("contact", "add", "Max", "--email", "max@example.com")
    at(monkeypatch, "2026-02-18 10:00")
    crm("deal", "add", "Quiet proposal", "--stage", "proposal", "--owner", "ana")  # 20 days
    crm("deal", "add", "Young lead", "--owner", "ana")  # 20 days, under the default 30
    at(monkeypatch, "2026-01-01 10:00")
    crm("deal", "add", "Old lead")  # 68 days without a touch
    at(monkeypatch, "2026-03-06 09:00")
    for day in ("2026-01-01", "2026-01-11", "2026-01-21"):  # Eva: every 10 days, then silence
        crm("log", "call", "x", "--contact", "Eva", "--at", f"{day} 10:00")
    crm("followup", "add", "Four days late", "--due", "2026-03-06 09:00", "--contact", "Max")
    crm("followup", "add", "Two days late", "--due", "2026-03-08 09:00")
    crm("ticket", "open", "Unanswered", "--contact", "Max", "--priority", "high")
    crm("ticket", "open", "Answered", "--contact", "Max", "--priority", "high")
    crm("ticket", "comment", "2", "On it")
    monkeypatch.setenv("CRM_NOW", NOW)
    crm("config", "set", "alerts.stale_days_by_stage", "proposal=14, negotiation=7")
    return crm


def test_each_kind_of_alert_once(office):
    code, found = alerts(office)
    assert code == 10
    got = [(a["kind"], a["ref"], a["text"]) for a in found]
    assert got == [  # per kind, the most important first (no amounts here: the oldest)
        ("stale-deal", "deal:3", "Old lead"),  # 68 days > 30
        ("stale-deal", "deal:1", "Quiet proposal"),  # 20 days > 14 in proposal
        ("overdue-followup", "followup:1", "Four days late"),  # more than 3 days
        ("at-risk", "contact:1", "Eva"),  # quiet 48 days, usually every 10
        ("ticket-past-due", "ticket:1", "Unanswered"),  # 4 h target, 4 days ago
    ]
    assert found[1]["detail"] == "no activity or stage change for 20 days in proposal (limit 14)"
    assert found[3]["detail"] == "quiet for 48 days; usually every 10 days"
    assert {a["recipient"] for a in found} == {"tester"}
    assert alerts(office) == (0, [])  # reported: quiet now
    r = office("alerts", ok=False)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")  # cron mails nothing


def test_a_changed_condition_is_a_new_alert(office, monkeypatch):
    alerts(office)
    office("log", "note", "Still alive", "--deal", "3", "--contact", "Max")  # touched: no alert
    assert alerts(office) == (0, [])
    at(monkeypatch, "2026-04-20 09:00")  # 41 days later, quiet again
    _, found = alerts(office)
    assert ("stale-deal", "deal:3") in [(a["kind"], a["ref"]) for a in found]


def test_each_recipient_and_mine(office):
    _, mine = alerts(office, "--for", "ana", "--mine")
    # ana's deal and customer, and the ticket nobody is assigned to; the old lead and the
    # follow-up belong to tester (whoever adds a record owns it by default).
    assert [a["ref"] for a in mine] == ["deal:1", "contact:1", "ticket:1"]
    _, everything = alerts(office, "--for", "ana")
    assert [a["ref"] for a in everything] == ["deal:3", "followup:1"]  # the rest
    code, _ = alerts(office)  # tester's own claims are separate from ana's
    assert code == 10


def test_thresholds_come_from_settings(office):
    office("config", "set", "alerts.stale_days", "90")
    office("config", "set", "alerts.overdue_days", "1")
    office("config", "unset", "alerts.stale_days_by_stage")
    _, found = alerts(office, "--dry-run")
    assert [a["ref"] for a in found if a["kind"] != "at-risk"] == [
        "followup:1", "followup:2", "ticket:1"]  # fmt: skip
    bad = office.fails("config", "set", "alerts.stale_days_by_stage", "proposal").stderr
    assert "STAGE=DAYS" in bad


def test_dry_run_claims_nothing(office):
    code, found = alerts(office, "--dry-run")
    assert code == 10 and len(found) == 5
    assert len(alerts(office)[1]) == 5


def test_remind_with_alerts_folds_them_into_the_digest(office, smtp_server):
    handler = smtp_server()
    r = office("--as", "ana", "remind", "--with-alerts", "--mail", "ana@example.com", ok=False)
    assert r.exit_code == 10, r.stderr
    ((_, msg),) = handler.messages
    assert msg["Subject"] == "crm alerts: 1 stale deal, 1 customer at risk, 1 ticket past due"
    body = msg.get_content()
    assert "Quiet proposal" in body and "Eva" in body and "Old lead" not in body
    r = office("--as", "ana", "remind", "--with-alerts", "--json", ok=False)
    assert (r.exit_code, json.loads(r.stdout)) == (0, [])
    # A refused mail releases the claims: the next run reports the alerts again.
    handler.reply = "550 no"
    r = office("alerts", "--mail", "me@example.com", ok=False)
    assert r.exit_code == 1 and "stay new" in r.stderr
    handler.reply = "250 OK"
    assert office("alerts", "--mail", "me@example.com", ok=False).exit_code == 10
    assert "crm alerts: 2 stale deals" in handler.messages[-1][1]["Subject"]


def test_alerts_are_not_undoable(office):
    alerts(office)
    office("undo")  # undoes the config change behind the claims
    assert alerts(office) == (0, [])


def test_a_run_reports_at_most_max_per_kind_and_the_rest_later(office):
    office("config", "set", "alerts.max_per_kind", "1")
    r = office("alerts", "--json", ok=False)
    first = [(a["kind"], a["ref"]) for a in json.loads(r.stdout)]
    assert first == [("stale-deal", "deal:3"), ("overdue-followup", "followup:1"),
                     ("at-risk", "contact:1"), ("ticket-past-due", "ticket:1")]  # fmt: skip
    r = office("alerts", ok=False)  # the next run: the other stale deal
    assert r.exit_code == 10 and "deal:1" in r.stdout and "more stale-deal" not in r.stderr
    assert alerts(office) == (0, [])
    assert "at least 1" in office.fails("config", "set", "alerts.max_per_kind", "0").stderr
