"""crm report service, rfm and churn on small fixed data, figures worked out by hand.

Europe/Madrid, today 2026-03-10 09:00 (08:00 UTC). Response targets are the defaults:
urgent 1h, high 4h, normal 1d, low 3d.
"""

from __future__ import annotations

import json

import pytest

NOW = "2026-03-10T09:00:00+01:00"


def at(monkeypatch, when: str):
    monkeypatch.setenv("CRM_NOW", f"{when}:00+01:00".replace(" ", "T"))


def report(crm, *args):
    return json.loads(crm("report", *args, "--json").stdout)


# ---------------------------------------------------------------- service


@pytest.fixture
def desk(crm, monkeypatch):
    crm("contact", "add", "Eva", "--email", "eva@example.com")
    at(monkeypatch, "2026-01-15 09:00")
    crm("ticket", "open", "T4 old question", "--contact", "eva@example.com", "--priority", "normal")
    at(monkeypatch, "2026-03-01 09:00")
    crm("ticket", "open", "T5", "--contact", "eva@example.com", "--priority", "low")
    at(monkeypatch, "2026-03-02 09:00")
    crm("ticket", "comment", "2", "On it")  # 24 h: within the 3-day target
    at(monkeypatch, "2026-03-03 09:00")
    crm("ticket", "close", "2", "--satisfaction", "3")  # resolved after 48 h
    at(monkeypatch, "2026-03-08 09:00")
    crm(
        "ticket", "open", "T3", "--contact", "eva@example.com", "--priority", "high"
    )  # never answered
    at(monkeypatch, "2026-03-09 10:00")
    crm("ticket", "open", "T1", "--contact", "eva@example.com", "--priority", "urgent")
    at(monkeypatch, "2026-03-09 10:30")
    crm("ticket", "comment", "4", "Looking")  # 0.5 h
    at(monkeypatch, "2026-03-09 11:00")
    crm("ticket", "open", "T2", "--contact", "eva@example.com", "--priority", "urgent")
    at(monkeypatch, "2026-03-09 12:00")
    crm("ticket", "close", "4", "--satisfaction", "5")  # resolved after 2 h
    at(monkeypatch, "2026-03-09 14:00")
    crm("ticket", "comment", "5", "Sorry for the wait")  # 3 h: the 1 h target is breached
    monkeypatch.setenv("CRM_NOW", NOW)
    return crm


def test_service_by_priority(desk):
    r = report(desk, "service")  # default: opened in the last 30 days (T1, T2, T3, T5)
    rows = {x["priority"]: x for x in r["rows"]}
    assert list(rows) == ["urgent", "high", "normal", "low"]
    u = rows["urgent"]  # T2 open for 22 h; responses 0.5 h and 3 h; T1 resolved in 2 h
    assert (u["open"], u["open_over_7d"], u["oldest_days"], u["created"]) == (1, 0, 0.9, 2)
    assert (u["response_median_h"], u["response_p90_h"]) == (round(1.75, 1), round(2.75, 1))
    assert (u["breached"], u["breach_rate"], u["resolved"], u["resolve_median_h"]) == (
        1,
        50.0,
        1,
        2.0,
    )
    assert (u["satisfaction"], u["rated"]) == (5.0, 1)
    h = rows["high"]  # T3: unanswered, 4 h target long past
    assert (h["open"], h["oldest_days"], h["response_median_h"], h["breached"], h["breach_rate"]) == (
        1, 2.0, None, 1, 100.0)  # fmt: skip
    n = rows["normal"]  # T4: opened Jan 15, outside the period, open for 54 days
    assert (n["open"], n["open_over_7d"], n["oldest_days"], n["created"], n["breach_rate"]) == (
        1, 1, 54.0, 0, None)  # fmt: skip
    low = rows["low"]
    assert (low["open"], low["response_median_h"], low["breached"], low["resolve_median_h"],
            low["satisfaction"]) == (0, 24.0, 0, 48.0, 3.0)  # fmt: skip
    assert r["totals"] == [{
        "open": 3, "open_over_7d": 1, "oldest_days": 54.0, "created": 4,
        "response_median_h": 3.0, "response_p90_h": round(3 + 0.8 * 21, 1), "breached": 2,
        "breach_rate": 50.0, "resolved": 2, "resolve_median_h": 25.0, "satisfaction": 4.0,
        "rated": 2}]  # fmt: skip


def test_service_filters_and_period(desk):
    r = report(desk, "service", "priority:urgent", "--period", "2026-03-09")
    assert [x["priority"] for x in r["rows"]] == ["urgent"]
    r = report(desk, "service", "--period", "2026-01")
    assert {x["priority"]: x["created"] for x in r["rows"]}["normal"] == 1  # T4


# ---------------------------------------------------------------- RFM


@pytest.fixture
def shop(crm):
    orders = {  # customer: [(date, amount)]
        "A": [("2026-03-01", 100), ("2026-02-01", 100), ("2026-01-01", 100)],
        "B": [("2026-03-05", 50)],
        "C": [("2025-12-01", 500), ("2026-01-10", 500)],
        "D": [("2025-06-01", 20)],
        "E": [("2025-11-15", 80), ("2026-02-20", 80), ("2026-03-08", 80), ("2026-03-09", 80)],
    }
    n = 0
    for name, items in orders.items():
        crm("contact", "add", name, "--email", f"{name.lower()}@example.com")
        for day, total in items:
            n += 1
            crm("order", "add", "-c", name, "--number", f"N{n}", "--date", day, "--line",
                f"X:1:{total}")  # fmt: skip
    crm("order", "add", "-c", "B", "--number", "U1", "--currency", "USD", "--line", "X:1:999")
    crm("order", "add", "-c", "D", "--number", "R1", "--status", "refunded", "--line", "X:1:5")
    return crm


def test_rfm_scores_and_segments(shop):
    # Recency (days to 2026-03-10): A 9, B 5, C 59, D 282, E 1; cut points 4.2, 7.4, 29,
    # 103.6 -> R: A 3, B 4, C 2, D 1, E 5. Orders: A 3, B 1, C 2, D 1, E 4; cuts 1, 1.6,
    # 2.4, 3.2 -> F: A 4, B 1, C 3, D 1, E 5. Spent: A 300, B 50, C 1000, D 20, E 320; cuts
    # 44, 200, 308, 456 -> M: A 3, B 2, C 5, D 1, E 4. Segments from R and F.
    r = report(shop, "rfm", "--by", "customer")
    got = {x["name"]: (x["recency_days"], x["orders"], x["spent"], x["rfm"], x["segment"])
           for x in r["rows"]}  # fmt: skip
    assert got == {
        "A": (9, 3, "300.00", "343", "loyal"),
        "B": (5, 1, "50.00", "412", "promising"),
        "C": (59, 2, "1000.00", "235", "at risk"),
        "D": (282, 1, "20.00", "111", "lost"),
        "E": (1, 4, "320.00", "554", "champions"),
    }
    assert [x["name"] for x in r["rows"]] == ["C", "E", "A", "B", "D"]  # by value
    assert "orders in USD are left out" in r["notes"][0]
    seg = report(shop, "rfm")
    assert [(x["segment"], x["customers"], x["spent"]) for x in seg["rows"]] == [
        ("champions", 1, "320.00"), ("loyal", 1, "300.00"), ("promising", 1, "50.00"),
        ("at risk", 1, "1000.00"), ("lost", 1, "20.00")]  # fmt: skip
    assert seg["totals"] == [{"customers": 5, "spent": "1690.00", "currency": "EUR"}]
    usd = report(shop, "rfm", "--by", "customer", "--currency", "usd")
    # One customer, one order today: no cut point below any value -> R 5, F 1, M 1.
    assert [(x["name"], x["rfm"], x["segment"]) for x in usd["rows"]] == [
        ("B", "511", "new customers")]  # fmt: skip


def test_rfm_period_and_filters(shop):
    # Orders in 2026 only, recency counted to the period's end (Feb 28) for February.
    r = report(shop, "rfm", "--by", "customer", "--period", "2026-02")
    assert {x["name"]: (x["orders"], x["recency_days"]) for x in r["rows"]} == {
        "A": (1, 27), "E": (1, 8)}  # fmt: skip
    assert r["notes"][-1] == "recency counted to 2026-02-28"
    r = report(shop, "rfm", "--by", "customer", "name:C")
    assert [x["name"] for x in r["rows"]] == ["C"]


# ---------------------------------------------------------------- churn


@pytest.fixture
def quiet(crm, monkeypatch):
    for name in ("P", "Q", "R", "S", "T"):
        crm("contact", "add", name, "--email", f"{name.lower()}@example.com")
    crm("contact", "edit", "T", "--consent", "opted-out")
    for day in ("2026-01-01", "2026-01-11", "2026-01-21"):  # P: every 10 days, silent since
        crm("log", "call", "x", "--contact", "P", "--at", f"{day} 10:00")
    for n, day in enumerate(("2026-02-01", "2026-02-15", "2026-03-01")):  # Q: on time
        crm("order", "add", "-c", "Q", "--number", f"Q{n}", "--date", day, "--line", "X:1:10")
    crm("log", "call", "x", "--contact", "R", "--at", "2025-12-01 10:00")
    crm("order", "add", "-c", "R", "--number", "R1", "--date", "2026-01-01", "--line", "X:1:250")
    crm("log", "call", "x", "--contact", "R", "--at", "2026-01-31 10:00")
    crm("log", "call", "x", "--contact", "S", "--at", "2025-01-01 10:00")  # two touches only
    crm("log", "call", "x", "--contact", "S", "--at", "2025-02-01 10:00")
    for n, day in enumerate(("2025-10-01", "2025-11-01", "2025-12-01")):  # T: big, gone
        crm("order", "add", "-c", "T", "--number", f"T{n}", "--date", day, "--line", "X:1:1000")
    crm("deal", "add", "Renewal", "--contact", "T", "--amount", "900")
    return crm


def test_churn_against_each_customers_own_gap(quiet):
    # P: gap 10 d, quiet 48 d (4.8x); T: gap (Oct 1 -> Dec 1 = 61 d) / 2 = 30.5 d, quiet
    # 99 d (3.2x); R: gap 61 / 2 = 30.5 d, quiet 38 d (1.2x: under 1.5x); Q: quiet 9 d.
    r = report(quiet, "churn")
    got = [(x["name"], x["usual_gap_days"], x["quiet_days"], x["overdue"], x["value"],
            x["action"]) for x in r["rows"]]  # fmt: skip
    assert got == [
        ("T", 30.5, 99, 3.2, "3000.00", "follow up on open deal #1"),
        ("P", 10.0, 48, 4.8, None, "win-back offer by email"),
    ]
    assert r["totals"] == [{"currency": "EUR", "customers": 1, "value": "3000.00"}]
    assert r["notes"] == ["2 customer(s) at risk; value is their paid orders to date"]
    one = report(quiet, "churn", "--limit", "1")
    assert [x["name"] for x in one["rows"]] == ["T"] and "the first 1 listed" in one["notes"][0]
    quiet("config", "set", "reports.churn_factor", "1.2")
    assert [x["name"] for x in report(quiet, "churn")["rows"]] == ["T", "R", "P"]
    assert report(quiet, "churn", "name:P")["rows"][0]["name"] == "P"
    quiet("deal", "won", "1")
    t = report(quiet, "churn")["rows"][0]
    # Won today: the deal is no longer open, and no new touch was logged: a win-back call?
    # T opted out of email and has no phone: the suggestion is a visit or a letter.
    assert (t["name"], t["action"]) == ("T", "win-back visit or letter")


def test_churn_refuses_a_period_and_bad_factor(quiet):
    assert "above 0" in quiet.fails("config", "set", "reports.churn_factor", "--", "-1").stderr
    err = quiet.fails("config", "set", "reports.churn_factor", "many").stderr
    assert "takes a number" in err
    assert quiet("report", "churn", "--period", "2026", ok=False).exit_code == 2  # no such option


# ---------------------------------------------------------------- team


def test_team_interactions_deals_tickets_and_workload(crm, monkeypatch):
    crm("team", "add", "sales")
    crm("team", "add", "support")
    crm("user", "add", "ana", "--team", "sales")
    crm("user", "add", "bob", "--team", "support")
    crm("contact", "add", "Eva", "--email", "eva@example.com")
    at(monkeypatch, "2026-02-20 10:00")
    crm("--as", "ana", "log", "call", "x", "--contact", "Eva")
    crm("deal", "add", "Old", "--amount", "100", "--owner", "ana")
    crm("deal", "won", "1")  # Feb 20: before March
    crm("ticket", "open", "Help", "--contact", "Eva", "--priority", "high", "--assign", "bob")
    at(monkeypatch, "2026-03-02 10:00")
    for _ in range(2):
        crm("--as", "ana", "log", "email", "x", "--contact", "Eva")
    crm("--as", "bob", "log", "call", "x", "--contact", "Eva")
    crm("deal", "add", "Big", "--amount", "5000", "--owner", "ana")
    crm("deal", "add", "Usd", "--amount", "70 USD", "--owner", "ana")
    crm("deal", "add", "Gone", "--amount", "900", "--owner", "ana")
    crm("deal", "won", "2")
    crm("deal", "won", "3")
    crm("deal", "lost", "4", "--reason", "price")
    crm("--as", "bob", "ticket", "comment", "1", "Looking")  # 10 days after: 240 h
    crm("ticket", "status", "1", "resolved")
    crm("ticket", "open", "Late", "--contact", "Eva", "--priority", "urgent", "--assign", "bob")
    crm("followup", "add", "Call Eva", "--due", "2026-03-05 10:00", "--assign", "ana")
    crm("followup", "add", "Send deck", "--due", "2026-03-20 10:00", "--assign", "ana")
    monkeypatch.setenv("CRM_NOW", NOW)
    r = report(crm, "team", "--period", "2026-03")
    rows = {x["member"]: x for x in r["rows"]}
    assert rows["ana"] == {
        "member": "ana", "team": "sales", "interactions": 2, "won": 2, "lost": 1,
        "won_amount": {"EUR": "5000.00", "USD": "70.00"}, "tickets_resolved": 0,
        "response_median_h": None, "open_followups": 2, "open_tickets": 0, "overdue": 1}  # fmt: skip
    b = rows["bob"]
    assert (b["interactions"], b["tickets_resolved"], b["response_median_h"], b["open_tickets"],
            b["overdue"]) == (2, 1, 240.0, 1, 1)  # a call and the ticket comment  # fmt: skip
    assert [x["member"] for x in report(crm, "team", "team:support")["rows"]] == ["bob"]
    assert report(crm, "team", "--period", "2026-02")["rows"][0]["won"] == 1  # ana in Feb


# ---------------------------------------------------------------- best and lookalike


@pytest.fixture
def customers(crm):
    crm("org", "add", "Retail One", "--industry", "retail", "--size", "11-50")
    crm("org", "add", "Retail Two", "--industry", "Retail", "--size", "11-50")
    crm("org", "add", "Retail Three", "--industry", "retail", "--size", "11-50")
    crm("org", "add", "Bank", "--industry", "finance", "--size", "500+")
    crm("contact", "add", "C1", "--org", "Retail One", "--source", "referral", "--tag", "vip")
    crm("contact", "add", "C2", "--org", "Retail Two", "--source", "referral", "--tag", "VIP")
    crm("order", "add", "-c", "C1", "--number", "1a", "--date", "2026-01-01", "--line", "X:1:500",
        "--source", "shop")  # fmt: skip
    crm("order", "add", "-c", "C1", "--number", "1b", "--date", "2026-01-31", "--line", "X:1:500",
        "--source", "shop")  # fmt: skip
    crm("order", "add", "-c", "C2", "--number", "2a", "--date", "2026-02-01", "--line", "X:1:900",
        "--source", "shop")  # fmt: skip
    for i in range(3, 11):  # eight smaller customers at the bank, from the web
        crm("contact", "add", f"C{i}", "--org", "Bank", "--source", "web")
        crm("order", "add", "-c", f"C{i}", "--number", f"{i}a", "--date", "2026-02-01",
            "--line", f"X:1:{130 - 10 * i}", "--source", "web")  # fmt: skip
    crm("contact", "add", "P1", "--org", "Retail Three", "--tag", "vip", "--stage", "prospect")
    crm("contact", "add", "P2", "--source", "referral")
    crm("contact", "add", "P3")
    return crm


def test_best_customers_profile(customers):
    # Best = the top 20% of 10 customers by value: C1 (1000) and C2 (900). Each value they
    # share is held by 2 of 10 customers overall: lift (2/2) / (2/10) = 5.
    r = report(customers, "best")
    got = {(x["attribute"], x["value"]): (x["best"], x["best_share"], x["all_share"], x["lift"])
           for x in r["rows"]}  # fmt: skip
    assert got == {
        ("industry", "retail"): (2, 100.0, 20.0, 5.0),
        ("size", "11-50"): (2, 100.0, 20.0, 5.0),
        ("source", "referral"): (2, 100.0, 20.0, 5.0),
        ("tag", "vip"): (2, 100.0, 20.0, 5.0),
        ("channel", "shop"): (2, 100.0, 20.0, 5.0),
        ("cadence", "monthly"): (1, 50.0, 10.0, 5.0),  # C1: two orders 30 days apart
    }
    assert "= 2 of 10 customers" in r["notes"][0]
    # The top 50%: C1..C5; retail is 2 of 5 there.
    r = report(customers, "best", "--top", "50")
    assert {(x["attribute"], x["value"]): x["lift"] for x in r["rows"]}[
        ("industry", "retail")
    ] == 2.0


def test_lookalike_contacts_and_orgs_with_reasons(customers):
    # P1 shares industry, size and tag (3 x ln 5 = 4.83); P2 the source (ln 5 = 1.61).
    r = report(customers, "lookalike")
    assert [(x["name"], x["score"]) for x in r["rows"]] == [("P1", 4.83), ("P2", 1.61)]
    assert r["rows"][0]["reasons"] == "industry retail (5×) · size 11-50 (5×) · tag vip (5×)"
    assert [x["name"] for x in report(customers, "lookalike", "stage:prospect")["rows"]] == ["P1"]
    orgs = report(customers, "lookalike", "--orgs")["rows"]
    assert [(x["name"], x["score"]) for x in orgs] == [("Retail Three", 3.22)]
    assert customers.fails("report", "lookalike", "--limit", "0").stderr
    assert customers.fails("report", "best", "--top", "0").stderr


def test_best_over_a_period_values_only_its_orders(customers):
    # In January only C1 bought (500, Jan 1 and... Jan 31: 1000): the single best customer.
    r = report(customers, "best", "--period", "2026-01")
    assert "= 1 of 1 customers" in r["notes"][0]
    assert r["period"]["label"] == "2026-01"
    # February: C2 (900) and the eight bank customers: C2 is the best 20%.
    r = report(customers, "best", "--from", "2026-02", "--to", "2026-02")
    assert "= 2 of 9 customers" in r["notes"][0]
    assert {(x["attribute"], x["value"]) for x in r["rows"]} >= {("industry", "retail")}
    # C1 bought in January only: in February's view it is a candidate, and the likest to C2.
    assert report(customers, "lookalike", "--period", "2026-02")["rows"][0]["name"] == "C1"
