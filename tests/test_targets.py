"""crm target and crm report targets: figures checked against hand-computed ones.

The story (Europe/Madrid, today 2026-03-10 09:00): team sales is ana and bob; tester
(the acting user) has no team. Q1 2026 has 90 days, 68 of them passed before today:
elapsed 68 / 90 = 75.6%. Stage probabilities: lead 10, qualified 25, proposal 50,
negotiation 75.

- ana: D1 10000 EUR won 2026-02-20 (in Q1); D2 5000 EUR won 2025-12-15 (before Q1);
  D3 2000 USD won 2026-03-01; D4 8000 EUR open, lead, closes 2026-03-31 (800 weighted);
  D5 4000 EUR open, proposal, closes 2026-04-15 (after Q1: not counted).
- bob: D6 6000 EUR won 2026-01-15; D7 10000 EUR open, negotiation, closes 2026-02-28
  (7500 weighted); D8 1000 USD open, qualified, closes 2026-03-15 (250 weighted).
- Targets Q1: ana 40000 EUR and 4000 USD, bob 20000 EUR, team sales 100000 EUR.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from crm_cli.storage import open_db

NOW = "2026-03-10T09:00:00+01:00"


def at(monkeypatch, day: str, time: str = "10:00"):
    monkeypatch.setenv("CRM_NOW", f"{day}T{time}:00+01:00")


@pytest.fixture
def team(crm):
    crm("team", "add", "sales")
    crm("user", "add", "ana", "--team", "sales")
    crm("user", "add", "bob", "--team", "sales")
    return crm


@pytest.fixture
def sales(team, monkeypatch):
    crm = team

    def won(title, amount, owner, day):
        at(monkeypatch, day)
        did = crm("deal", "add", title, "--amount", amount, "--owner", owner).stdout.strip()
        crm("deal", "won", did)

    won("D1", "10000", "ana", "2026-02-20")
    won("D2", "5000", "ana", "2025-12-15")
    won("D3", "2000 USD", "ana", "2026-03-01")
    won("D6", "6000", "bob", "2026-01-15")
    monkeypatch.setenv("CRM_NOW", NOW)
    crm("deal", "add", "D4", "--amount", "8000", "--owner", "ana", "--close", "2026-03-31")
    crm("deal", "add", "D5", "--amount", "4000", "--owner", "ana", "--stage", "proposal",
        "--close", "2026-04-15")  # fmt: skip
    crm("deal", "add", "D7", "--amount", "10000", "--owner", "bob", "--stage", "negotiation",
        "--close", "2026-02-28")  # fmt: skip
    crm("deal", "add", "D8", "--amount", "1000 USD", "--owner", "bob", "--stage", "qualified",
        "--close", "2026-03-15")  # fmt: skip
    crm("target", "set", "--owner", "ana", "--period", "2026-Q1", "--amount", "40000")
    crm("target", "set", "--owner", "ana", "--period", "2026-Q1", "--amount", "4000",
        "--currency", "USD")  # fmt: skip
    crm("target", "set", "--owner", "bob", "--period", "2026-Q1", "--amount", "20000",
        "--currency", "EUR")  # fmt: skip
    crm("target", "set", "--team", "sales", "--period", "this quarter", "--amount", "100000")
    return crm


def test_m013_targets_table(tmp_path):
    db = open_db(tmp_path / "m.db")
    cols = {r[1] for r in db.conn.execute("PRAGMA table_info(targets)")}
    assert {"owner_id", "team_id", "period", "start_date", "end_date", "amount_minor",
            "currency", "created_at", "updated_at"} <= cols  # fmt: skip
    db.conn.execute("INSERT INTO teams (name, created_at) VALUES ('t', 'x')")
    row = "(?, ?, '2026-Q1', '2026-01-01', '2026-03-31', 100, 'EUR', 'x', 'x')"
    sql = ("INSERT INTO targets (owner_id, team_id, period, start_date, end_date, amount_minor,"
           f" currency, created_at, updated_at) VALUES {row}")  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):  # neither owner nor team
        db.conn.execute(sql, (None, None))
    db.conn.execute(sql, (None, 1))
    with pytest.raises(sqlite3.IntegrityError):  # one target per team, period, currency
        db.conn.execute(sql, (None, 1))
    db.close()


def test_set_adjust_list_delete_history_undo(team):
    crm = team
    assert crm("target", "set", "--owner", "ana", "--period", "2026-Q1",
               "--amount", "50000").stdout.strip() == "1"  # fmt: skip
    r = crm("target", "set", "--owner", "ana", "--period", "2026-Q1", "--amount", "55000")
    assert r.stdout.strip() == "1" and "adjusted" in r.stderr
    crm("target", "set", "--team", "sales", "--period", "2026-03", "--amount", "900",
        "--currency", "USD")  # fmt: skip
    rows = crm.json("target", "list")
    assert [(t["id"], t["period"], t["owner"], t["team"], t["amount"], t["currency"],
             t["start_date"], t["end_date"]) for t in rows] == [
        (1, "2026-Q1", "ana", None, "55000.00", "EUR", "2026-01-01", "2026-03-31"),
        (2, "2026-03", None, "sales", "900.00", "USD", "2026-03-01", "2026-03-31"),
    ]  # fmt: skip
    assert [t["id"] for t in crm.json("target", "list", "--period", "2026-03")] == [2]
    out = list(csv.DictReader(io.StringIO(crm("target", "list", "--csv").stdout)))
    assert out[0]["amount"] == "55000.00" and out[1]["team"] == "sales"
    history = crm.json("history")
    labels = [h["label"] for h in history]
    assert labels.count("target set ana 2026-Q1 EUR") == 2
    # undo the USD target, then the adjustment: back to 50000
    crm("undo")
    crm("undo")
    assert [(t["id"], t["amount"]) for t in crm.json("target", "list")] == [(1, "50000.00")]
    assert crm("target", "delete", "1").stdout.strip() == "1"
    assert crm.json("target", "list") == []
    crm("undo")
    assert [t["id"] for t in crm.json("target", "list")] == [1]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--owner", "zed", "--period", "2026-Q1", "--amount", "5"], 3, "no user"),
        (["--team", "nope", "--period", "2026-Q1", "--amount", "5"], 3, "no team"),
        (["--owner", "ana", "--period", "2026-W10", "--amount", "5"], 1, "whole month"),
        (["--owner", "ana", "--period", "2026-01..2026-02", "--amount", "5"], 1, "whole month"),
        (["--owner", "ana", "--period", "soon", "--amount", "5"], 1, "period"),
        (["--owner", "ana", "--period", "2026-Q1", "--amount", "abc"], 1, "amount"),
        (["--owner", "ana", "--period", "2026-Q1", "--amount", "0"], 1, "more than 0"),
        (
            ["--owner", "ana", "--period", "2026-Q1", "--amount", "5", "--currency", "ZZZ"],
            1,
            "currency",
        ),
        (
            ["--owner", "ana", "--team", "sales", "--period", "2026-Q1", "--amount", "5"],
            1,
            "either",
        ),
        (["--period", "2026-Q1", "--amount", "5"], 1, "either"),
    ],
)
def test_set_errors(team, args, code, words):
    r = team.fails("target", "set", *args, code=code)
    assert words in r.stderr
    assert team.json("target", "list") == []


def test_delete_unknown(team):
    team.fails("target", "delete", "9", code=3)


def _fig(r):
    return (r["kind"], r["name"], r["currency"], r["target"], r["won"], r["pipeline"],
            r["attainment"], r["projected"], r["elapsed"], r["gap"])  # fmt: skip


def test_report_targets_hand_computed(sales):
    r = json.loads(sales("report", "targets", "--json").stdout)
    assert r["period"] == {"label": "2026-Q1", "from": "2026-01-01", "to": "2026-03-31"}
    assert [_fig(x) for x in r["rows"]] == [
        # ana EUR: won D1 10000 (D2 is December); D4 8000 x 10% = 800; D5 closes in April
        ("person", "ana", "EUR", "40000.00", "10000.00", "800.00", 25.0, 27.0, 75.6,
         "30000.00"),
        ("person", "ana", "USD", "4000.00", "2000.00", "0.00", 50.0, 50.0, 75.6, "2000.00"),
        # bob EUR: won D6 6000; D7 10000 x 75% = 7500; (6000 + 7500) / 20000 = 67.5%
        ("person", "bob", "EUR", "20000.00", "6000.00", "7500.00", 30.0, 67.5, 75.6,
         "14000.00"),
        # bob USD: no target; D8 1000 x 25% = 250
        ("person", "bob", "USD", None, "0.00", "250.00", None, None, 75.6, None),
        # the team: 16000 won, 8300 weighted; 16000 / 100000, 24300 / 100000
        ("team", "sales", "EUR", "100000.00", "16000.00", "8300.00", 16.0, 24.3, 75.6,
         "84000.00"),
        ("team", "sales", "USD", None, "2000.00", "250.00", None, None, 75.6, None),
    ]  # fmt: skip
    # the month of March only: ana's D3 and D4, bob's D8; no targets for 2026-03
    r = json.loads(sales("report", "targets", "--period", "2026-03", "--json").stdout)
    assert [(x["name"], x["currency"], x["won"], x["pipeline"], x["elapsed"]) for x in r["rows"]] == [
        ("ana", "EUR", "0.00", "800.00", 29.0),
        ("ana", "USD", "2000.00", "0.00", 29.0),
        ("bob", "USD", "0.00", "250.00", 29.0),
        ("sales", "EUR", "0.00", "800.00", 29.0),
        ("sales", "USD", "2000.00", "250.00", 29.0),
    ]  # fmt: skip
    assert r["notes"] == ["no targets for 2026-03 (crm target set … --period 2026-03)"]


def test_report_targets_csv_and_table(sales):
    out = list(csv.DictReader(io.StringIO(sales("report", "targets", "--csv").stdout)))
    assert out[0] == {"kind": "person", "name": "ana", "team": "sales", "currency": "EUR",
                      "target": "40000.00", "won": "10000.00", "pipeline": "800.00",
                      "attainment": "25.0", "projected": "27.0", "elapsed": "75.6",
                      "gap": "30000.00"}  # fmt: skip
    assert out[3]["target"] == "" and out[3]["attainment"] == ""
    table = sales("report", "targets", "--chart").stdout
    assert "Sales targets, 2026-Q1" in table and "40,000" in table and "EUR: " in table
    sales.fails("report", "targets", "--json", "--csv", code=1)


def test_behind_target_alert_once(sales, monkeypatch):
    crm = sales
    crm("config", "set", "alerts.target_tolerance", "30")
    # elapsed 75.6: team 16.0 (59.6 behind), ana EUR 25.0 (50.6), bob 30.0 (45.6);
    # ana USD 50.0 is 25.6 behind: within the tolerance.
    r = crm("alerts", "--json", ok=False)
    assert r.exit_code == 10
    found = [(a["kind"], a["ref"], a["text"], a["owner"], a["since"])
             for a in json.loads(r.stdout)]  # fmt: skip
    march = "2026-02-28T23:00:00Z"  # local midnight starting March (Madrid, CET)
    assert found == [
        ("behind-target", "target:4", "team sales 2026-Q1 EUR", None, march),
        ("behind-target", "target:1", "ana 2026-Q1 EUR", "ana", march),
        ("behind-target", "target:3", "bob 2026-Q1 EUR", "bob", march),
    ]
    r = crm("alerts", "--json", ok=False)
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    # bob's own: his target and his team's
    r = crm("alerts", "--for", "bob", "--mine", "--json", ok=False)
    assert [a["ref"] for a in json.loads(r.stdout)] == ["target:4", "target:3"]
    # 2026-03-20: 78 / 90 = 86.7% gone; the three told already are not told again this
    # month, and ana's USD target (50.0%) now falls 36.7 points behind: new
    at(monkeypatch, "2026-03-20")
    assert [a["ref"] for a in json.loads(crm("alerts", "--json", ok=False).stdout)] == ["target:2"]
    assert json.loads(crm("alerts", "--json", ok=False).stdout) == []
    # April: Q1 is over, nothing is under way
    at(monkeypatch, "2026-04-02")
    assert json.loads(crm("alerts", "--json", ok=False).stdout) == []
