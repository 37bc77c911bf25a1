"""crm report: every figure checked against hand-computed expectations on small fixed data.

The story (Europe/Madrid, today 2026-03-10): eight deals written through the CLI at
fixed times, moved, won and lost; activities by two people around a week boundary.
The expected numbers in each test are worked out by hand in its comments.
"""

from __future__ import annotations

import json

import pytest

NOW = "2026-03-10T09:00:00+01:00"


def at(monkeypatch, day: str, time: str = "10:00"):
    monkeypatch.setenv("CRM_NOW", f"{day}T{time}:00+01:00")


@pytest.fixture
def sales(crm, monkeypatch):
    """D1..D8 as in the module docstring of each test below."""
    crm("user", "add", "ana")
    at(monkeypatch, "2026-01-05")
    crm("deal", "add", "D1", "--amount", "10000", "--source", "web")  # owner: tester
    at(monkeypatch, "2026-01-10")
    crm("deal", "add", "D2", "--amount", "4000", "--owner", "ana", "--source", "referral")
    at(monkeypatch, "2026-01-15")
    crm("deal", "move", "1", "qualified")
    at(monkeypatch, "2026-01-20")
    crm("deal", "move", "2", "qualified")
    crm("deal", "add", "D7", "--amount", "3000", "--owner", "ana", "--source", "referral")
    at(monkeypatch, "2026-02-01")
    crm("deal", "move", "1", "proposal")
    crm("deal", "add", "D3", "--amount", "2500 USD", "--owner", "ana", "--source", "web")
    at(monkeypatch, "2026-02-05")
    crm("deal", "move", "4", "proposal")  # D3 skips qualified
    at(monkeypatch, "2026-02-10")
    crm("deal", "lost", "2", "--reason", "Price")
    at(monkeypatch, "2026-02-15")
    crm("deal", "add", "D4", "--amount", "8000", "--close", "2026-03-31", "--source", "web")
    at(monkeypatch, "2026-02-20")
    crm("deal", "won", "1")
    crm("deal", "add", "D5", "--amount", "6000", "--close", "2026-04-15")
    at(monkeypatch, "2026-03-01")
    crm("deal", "won", "4")
    crm("deal", "move", "6", "negotiation")
    crm("deal", "add", "D8")  # no amount, no close date
    at(monkeypatch, "2026-03-02")
    crm("deal", "add", "D6", "--amount", "1000", "--owner", "ana", "--stage", "proposal",
        "--close", "2026-01-31")  # fmt: skip
    at(monkeypatch, "2026-03-05")
    crm("deal", "lost", "3", "--reason", "price.")
    monkeypatch.setenv("CRM_NOW", NOW)
    ids = {d["title"]: d["id"] for d in crm.json("deal", "list", "--all")}
    assert ids == {"D1": 1, "D2": 2, "D7": 3, "D3": 4, "D4": 5, "D5": 6, "D8": 7, "D6": 8}
    return crm


def report(crm, *args):
    return json.loads(crm("report", *args, "--json").stdout)


def test_pipeline_by_stage(sales):
    # Open: D4 lead 8000 EUR, D8 lead (no amount), D6 proposal 1000 EUR, D5 negotiation 6000.
    r = report(sales, "pipeline")
    assert [(x["stage"], x["currency"], x["deals"], x["amount"], x["weighted"]) for x in r["rows"]] == [
        ("lead", "EUR", 1, "8000.00", "800.00"),
        ("lead", None, 1, None, None),
        ("qualified", None, 0, None, None),
        ("proposal", "EUR", 1, "1000.00", "500.00"),
        ("negotiation", "EUR", 1, "6000.00", "4500.00"),
    ]  # fmt: skip
    assert r["totals"] == [{"currency": "EUR", "deals": 3, "amount": "15000.00",
                            "weighted": "5800.00"}]  # fmt: skip
    assert r["notes"] == ["1 open deal(s) have no amount"]


def test_pipeline_by_owner_with_filters_and_a_close_period(sales):
    r = report(sales, "pipeline", "--by", "owner")
    assert [(x["stage"], x["owner"], x["amount"]) for x in r["rows"]] == [
        ("lead", "tester", "8000.00"), ("lead", "tester", None),
        ("proposal", "ana", "1000.00"), ("negotiation", "tester", "6000.00")]  # fmt: skip
    r = report(sales, "pipeline", "owner:ana")
    assert [(x["stage"], x["deals"]) for x in r["rows"]] == [
        ("lead", 0), ("qualified", 0), ("proposal", 1), ("negotiation", 0)]  # fmt: skip
    # Expected to close in March: only D4 (D5 closes in April, D6 closed in January).
    r = report(sales, "pipeline", "--period", "2026-03")
    assert [(x["stage"], x["amount"]) for x in r["rows"] if x["deals"]] == [("lead", "8000.00")]
    assert r["period"] == {"label": "2026-03", "from": "2026-03-01", "to": "2026-03-31"}


def test_forecast_by_close_month(sales):
    # Won: D1 10000 EUR on Feb 20, D3 2500 USD on Mar 1. Open with amounts: D4 8000 closing
    # in March at 10%, D5 6000 in April at 75% (commit), D6 1000 due Jan 31: overdue, 50%.
    r = report(sales, "forecast", "--period", "2026-01..2026-04")
    rows = {(x["month"], x["currency"]): x for x in r["rows"]}
    assert list(rows) == [
        ("2026-01", "EUR"), ("2026-01", "USD"), ("2026-02", "EUR"), ("2026-02", "USD"),
        ("2026-03", "EUR"), ("2026-03", "USD"), ("2026-04", "EUR"), ("2026-04", "USD"),
        ("overdue", "EUR")]  # fmt: skip

    def fig(key):
        x = rows[key]
        return (x["won_deals"], x["won"], x["open_deals"], x["worst"], x["weighted"], x["best"])

    assert fig(("2026-01", "EUR")) == (0, "0.00", 0, "0.00", "0.00", "0.00")
    assert fig(("2026-02", "EUR")) == (1, "10000.00", 0, "10000.00", "10000.00", "10000.00")
    assert fig(("2026-03", "EUR")) == (0, "0.00", 1, "0.00", "800.00", "8000.00")
    assert fig(("2026-03", "USD")) == (1, "2500.00", 0, "2500.00", "2500.00", "2500.00")
    assert fig(("2026-04", "EUR")) == (0, "0.00", 1, "6000.00", "4500.00", "6000.00")
    assert fig(("overdue", "EUR")) == (0, "0.00", 1, "0.00", "500.00", "1000.00")
    totals = {t["currency"]: t for t in r["totals"]}
    assert (totals["EUR"]["won"], totals["EUR"]["weighted"], totals["EUR"]["best"]) == (
        "10000.00", "15800.00", "25000.00")  # fmt: skip


def test_forecast_commit_probability_comes_from_config(sales):
    sales("config", "set", "reports.commit_probability", "50")
    r = report(sales, "forecast", "--period", "2026-01..2026-04")
    overdue = next(x for x in r["rows"] if x["month"] == "overdue")
    assert overdue["worst"] == "1000.00"  # D6 sits at 50%: now committed
    assert (
        "from 0 to 100" in sales.fails("config", "set", "reports.commit_probability", "150").stderr
    )


def test_winrate_by_owner_and_source(sales):
    # Closed in Q1: D1 won (tester), D2 lost (ana), D3 won (ana), D7 lost (ana).
    r = report(sales, "winrate", "--period", "2026-Q1")
    assert [(x["owner"], x["closed"], x["won"], x["lost"], x["win_rate"]) for x in r["rows"]] == [
        ("ana", 3, 1, 2, 33.3), ("tester", 1, 1, 0, 100.0)]  # fmt: skip
    assert r["rows"][0]["won_amount"] == {"USD": "2500.00"}
    assert r["totals"] == [{"closed": 4, "won": 2, "lost": 2, "win_rate": 50.0,
                            "won_amount": {"EUR": "10000.00", "USD": "2500.00"}}]  # fmt: skip
    r = report(sales, "winrate", "--by", "source", "--from", "2026-01", "--to", "2026-03")
    assert [(x["source"], x["won"], x["lost"], x["win_rate"]) for x in r["rows"]] == [
        ("referral", 0, 2, 0.0), ("web", 2, 0, 100.0)]  # fmt: skip
    r = report(sales, "winrate", "--by", "month")
    assert [(x["month"], x["won"], x["lost"]) for x in r["rows"]] == [
        ("2026-02", 1, 1), ("2026-03", 1, 1)]  # fmt: skip
    # Closed in February only: D1 won, D2 lost.
    assert report(sales, "winrate", "-p", "2026-02")["totals"][0]["win_rate"] == 50.0


def test_cycle_median_and_p90(sales):
    # Won: D1 Jan 5 -> Feb 20 = 46 days (tester); D3 Feb 1 -> Mar 1 = 28 days (ana).
    # Lost: D2 Jan 10 -> Feb 10 = 31 days, D7 Jan 20 -> Mar 5 = 44 days (both ana).
    r = report(sales, "cycle")
    rows = {x["owner"]: x for x in r["rows"]}
    assert (rows["tester"]["won"], rows["tester"]["median_days"], rows["tester"]["p90_days"]) == (
        1, 46.0, 46.0)  # fmt: skip
    assert (rows["ana"]["won"], rows["ana"]["median_days"], rows["ana"]["lost"],
            rows["ana"]["lost_median_days"]) == (1, 28.0, 2, 37.5)  # fmt: skip
    # Both won deals: median (28 + 46) / 2 = 37; p90 interpolates 28 + 0.9 * 18 = 44.2.
    assert r["totals"] == [{"won": 2, "median_days": 37.0, "p90_days": 44.2, "lost": 2,
                            "lost_median_days": 37.5}]  # fmt: skip


def _p90(values):
    """Linear interpolation between closest ranks, written out for the test."""
    xs = sorted(values)
    pos = (len(xs) - 1) * 0.9
    lo = int(pos)
    return round(xs[lo] + (pos - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo]), 1)


def test_funnel_from_the_move_history(sales):
    # Highest stage reached: D1 proposal, D2 qualified, D3 proposal (skipped qualified),
    # D4 lead, D5 negotiation, D6 proposal (created there), D7 lead, D8 lead.
    # Ended stays in lead: D1 10 d, D2 10, D3 4, D5 9, D7 44 (lost from lead); qualified:
    # D1 17, D2 21 (lost); proposal: D1 19 (won), D3 24 (won). D4, D5, D6, D8 still open.
    r = report(sales, "funnel")
    rows = {x["stage"]: x for x in r["rows"]}
    assert [(s, rows[s]["reached"], rows[s]["conversion"]) for s in rows] == [
        ("lead", 8, 100.0), ("qualified", 5, 62.5), ("proposal", 4, 80.0),
        ("negotiation", 1, 25.0), ("won", 2, 25.0), ("lost", 2, 25.0)]  # fmt: skip
    assert (rows["lead"]["median_days"], rows["lead"]["p90_days"]) == (
        10.0,
        _p90([10, 10, 4, 9, 44]),
    )
    assert (rows["qualified"]["median_days"], rows["qualified"]["p90_days"]) == (
        19.0,
        _p90([17, 21]),
    )
    assert (rows["proposal"]["median_days"], rows["proposal"]["p90_days"]) == (21.5, _p90([19, 24]))
    assert rows["negotiation"]["median_days"] is None  # D5 is still there
    # Created in February: D3, D4, D5.
    r = report(sales, "funnel", "--period", "2026-02")
    assert r["title"] == "Funnel of sales: 3 deal(s) created 2026-02"
    assert [x["reached"] for x in r["rows"]] == [3, 2, 2, 1, 1, 0]


def test_lost_reasons_ranked_with_their_stages(sales):
    # D2 'Price' at qualified (4000), D7 'price.' at lead (3000): one reason.
    r = report(sales, "lost", "--period", "2026-Q1")
    assert r["rows"] == [{"reason": "Price", "deals": 2, "share": 100.0,
                          "stages": {"lead": 1, "qualified": 1},
                          "amount": {"EUR": "7000.00"}}]  # fmt: skip
    sales("deal", "lost", "7", "--reason", "went with a competitor")
    r = report(sales, "lost")
    assert [(x["reason"], x["deals"], x["share"]) for x in r["rows"]] == [
        ("Price", 2, 66.7), ("went with a competitor", 1, 33.3)]  # fmt: skip
    assert report(sales, "lost", "-p", "2025")["rows"] == []


def test_activity_by_week_and_person(crm, monkeypatch):
    crm("user", "add", "ana")
    crm("contact", "add", "Eva", "--email", "eva@example.com")
    log = [("call", "2026-02-24 10:00", "ana"), ("note", "2026-03-01 23:30", "tester"),
           ("call", "2026-03-02 10:00", "tester"), ("email", "2026-03-03 12:00", "tester"),
           ("call", "2026-03-04 16:00", "ana"), ("meeting", "2026-03-09 09:00", "tester")]  # fmt: skip
    for kind, when, who in log:
        crm("--as", who, "log", kind, "x", "--contact", "eva@example.com", "--at", when)
    # Weeks start on Monday, in Madrid: Sunday 23:30 (22:30 UTC) belongs to W09.
    r = report(crm, "activity", "--period", "2026-02-23..2026-03-15")
    assert r["rows"] == [
        {"week": "2026-W09", "call": 1, "email": 0, "meeting": 0, "note": 1, "total": 2},
        {"week": "2026-W10", "call": 2, "email": 1, "meeting": 0, "note": 0, "total": 3},
        {"week": "2026-W11", "call": 0, "email": 0, "meeting": 1, "note": 0, "total": 1},
    ]
    assert r["totals"] == [{"call": 3, "email": 1, "meeting": 1, "note": 1, "total": 6}]
    r = report(crm, "activity", "--by", "person", "--period", "2026-03")
    assert [(x["person"], x["total"]) for x in r["rows"]] == [("tester", 4), ("ana", 1)]
    r = report(crm, "activity", "kind:call", "--by", "person", "--period", "2026-03")
    assert [(x["person"], x["call"]) for x in r["rows"]] == [("ana", 1), ("tester", 1)]
    # The default: the last 12 weeks, one row each, empty weeks included.
    assert len(report(crm, "activity")["rows"]) == 13  # 12 weeks back cut mid-week: 13 labels


def test_reports_print_tables_csv_and_charts(sales):
    out = sales("report", "pipeline").stdout
    assert out.splitlines()[0] == "Pipeline sales: open deals by stage"
    assert "negotiation" in out and "6,000" in out and "total" in out
    csv_out = sales("report", "winrate", "--csv", "-p", "2026-Q1").stdout.splitlines()
    assert csv_out[0] == "owner,closed,won,lost,win_rate,won_amount"
    assert csv_out[1] == "ana,3,1,2,33.3,2500.00 USD"
    chart = sales("report", "funnel", "--chart").stdout
    assert "█ deals" in chart and "lead" in chart.split("█ deals")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["winrate", "--by", "colour"], "--by must be one of owner, source"),
        (["winrate", "--period", "2026-Q5"], "cannot read '2026-Q5' as a period"),
        (["winrate", "--period", "2026", "--from", "2026-01"], "either --period or --from/--to"),
        (["winrate", "--from", "2026-03", "--to", "2026-01"], "before --from"),
        (["pipeline", "nosuch:1"], "unknown field"),
        (["pipeline", "--pipeline", "nope"], "pipeline"),
        (["activity", "kind:cal"], "kind"),
        (["lost", "--json", "--chart"], "--chart"),
    ],
)
def test_bad_report_arguments_are_one_error_line(sales, args, message):
    err = sales.fails("report", *args).stderr
    assert message in err, err


def test_a_report_without_a_database_is_not_found(crm):
    crm.fails("report", "pipeline", code=3)
