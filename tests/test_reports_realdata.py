"""Reports on real files from ../shared/realdata/csv, checked against figures this test
computes itself from the same CSV files (plain Python, no crm code)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

CSV = Path("../shared/realdata/csv")
SF = CSV / "salesforce-apex-recipes"
CHINOOK = CSV / "chinook"
RETAIL = CSV / "online-retail"

pytestmark = pytest.mark.skipif(not CSV.is_dir(), reason="needs ../shared/realdata")

TODAY = date(2026, 3, 10)  # conftest's CRM_NOW, in Madrid


def report(crm, *args):
    return json.loads(crm("report", *args, "--json").stdout)


def imported(crm, tmp_path, kind, path, *extra):
    rejects = tmp_path / f"{path.name}.rejects.csv"
    crm("import", kind, str(path), "--rejects", str(rejects), *extra, ok=False)


# -- an independent RFM: quantiles by linear interpolation, the published RF grid ---------


def quantile_cuts(values):
    xs = sorted(values)
    if len(xs) == 1:
        return [xs[0]] * 4
    cuts = []
    for k in (1, 2, 3, 4):
        pos = (len(xs) - 1) * k / 5
        lo = int(pos)
        hi = min(lo + 1, len(xs) - 1)
        cuts.append(xs[lo] + (pos - lo) * (xs[hi] - xs[lo]))
    return cuts


def rf_segment(r, f):
    grid = {
        "champions": [(5, 4), (5, 5)],
        "loyal": [(3, 4), (3, 5), (4, 4), (4, 5)],
        "potential loyalists": [(4, 2), (4, 3), (5, 2), (5, 3)],
        "new customers": [(5, 1)],
        "promising": [(4, 1)],
        "need attention": [(3, 3)],
        "about to sleep": [(3, 1), (3, 2)],
        "can't lose": [(1, 5), (2, 5)],
        "at risk": [(1, 3), (1, 4), (2, 3), (2, 4)],
        "hibernating": [(2, 1), (2, 2), (1, 2)],
        "lost": [(1, 1)],
    }
    return next(name for name, cells in grid.items() if (r, f) in cells)


def expected_rfm(customers):
    """customers: name -> (last order date, number of orders, total in cents)."""
    rec = {n: (TODAY - last).days for n, (last, _, _) in customers.items()}
    rc = quantile_cuts(list(rec.values()))
    fc = quantile_cuts([o for _, o, _ in customers.values()])
    mc = quantile_cuts([m for _, _, m in customers.values()])
    out = {}
    for n, (_, orders, spent) in customers.items():
        r = 5 - sum(rec[n] > c for c in rc)
        f = 1 + sum(orders > c for c in fc)
        m = 1 + sum(spent > c for c in mc)
        out[n] = (rec[n], orders, spent, f"{r}{f}{m}", rf_segment(r, f))
    return out


def actual_rfm(crm, *args):
    rows = report(crm, "rfm", "--by", "customer", *args)["rows"]
    return {x["name"]: (x["recency_days"], x["orders"], int(Decimal(x["spent"]) * 100), x["rfm"],
                        x["segment"]) for x in rows}  # fmt: skip


def test_rfm_on_chinook_invoices(crm, tmp_path):
    imported(crm, tmp_path, "contacts", CHINOOK / "Customer.csv")
    imported(crm, tmp_path, "orders", CHINOOK / "Invoice.csv", "--lines",
             str(CHINOOK / "InvoiceLine.csv"))  # fmt: skip
    names = {r["CustomerId"]: f"{r['FirstName']} {r['LastName']}"
             for r in csv.DictReader((CHINOOK / "Customer.csv").open(encoding="utf-8"))}  # fmt: skip
    customers: dict[str, list] = {}
    for r in csv.DictReader((CHINOOK / "Invoice.csv").open(encoding="utf-8")):
        day = date.fromisoformat(r["InvoiceDate"][:10])
        c = customers.setdefault(names[r["CustomerId"]], [day, 0, 0])
        c[0] = max(c[0], day)
        c[1] += 1
        c[2] += int(Decimal(r["Total"]) * 100)
    want = expected_rfm({n: tuple(v) for n, v in customers.items()})
    got = actual_rfm(crm)
    assert len(got) == 59 and got == want
    segments = report(crm, "rfm")["rows"]
    assert sum(s["customers"] for s in segments) == 59
    assert {s["segment"]: s["customers"] for s in segments} == {
        seg: sum(1 for v in want.values() if v[4] == seg) for seg in {v[4] for v in want.values()}}  # fmt: skip


def test_rfm_on_online_retail_with_refunds_left_out(crm, tmp_path):
    imported(crm, tmp_path, "orders", RETAIL / "online_retail_28customers_fullyear.csv")
    invoices: dict[str, dict] = {}
    for r in csv.DictReader(
        (RETAIL / "online_retail_28customers_fullyear.csv").open(encoding="utf-8")
    ):
        if r["InvoiceNo"].startswith("C"):
            continue  # a cancellation: a refund, not a purchase
        inv = invoices.setdefault(r["InvoiceNo"], {"customer": f"Customer {r['CustomerID']}",
                                                  "day": date.fromisoformat(r["InvoiceDate"][:10]),
                                                  "cents": 0})  # fmt: skip
        inv["cents"] += int(Decimal(r["Quantity"]) * Decimal(r["UnitPrice"]) * 100)
    customers: dict[str, list] = defaultdict(lambda: [date.min, 0, 0])
    for inv in invoices.values():
        c = customers[inv["customer"]]
        c[0] = max(c[0], inv["day"])
        c[1] += 1
        c[2] += inv["cents"]
    want = expected_rfm({n: tuple(v) for n, v in customers.items()})
    got = actual_rfm(crm, "--currency", "GBP")
    assert len(got) == len(want) == 28 - sum(1 for v in customers.values() if not v[1])
    assert got == want


def test_winrate_and_forecast_on_salesforce_opportunities(crm, tmp_path, monkeypatch):
    imported(crm, tmp_path, "orgs", SF / "Accounts.csv")
    imported(crm, tmp_path, "deals", SF / "Opportunities.csv")
    opps = list(csv.DictReader((SF / "Opportunities.csv").open(encoding="utf-8")))
    # Titles repeat ("Dove, emerald-spotted wood" twice): opportunities are matched to
    # deals by position (the import keeps the file's order).
    deals = sorted(crm.json("deal", "list", "--all"), key=lambda d: d["id"])
    assert [d["title"] for d in deals] == [o["name"] for o in opps]
    cents = {i: int(Decimal(o["amount"]) * 100) for i, o in enumerate(opps)}
    closed = {i: o for i, o in enumerate(opps) if o["StageName"].startswith("Closed")}
    # Win rate by year of closing, from the file.
    per_year: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in closed.values():
        per_year[o["closedate"][:4]][0 if "Won" in o["StageName"] else 1] += 1
    rows = report(crm, "winrate", "--by", "year")["rows"]
    assert {x["year"]: [x["won"], x["lost"]] for x in rows} == per_year
    won_all = sum(w for w, _ in per_year.values())
    total = report(crm, "winrate")["totals"][0]
    assert total["win_rate"] == round(100 * won_all / len(closed), 1)
    assert Decimal(total["won_amount"]["EUR"]) * 100 == sum(
        cents[n] for n, o in closed.items() if "Won" in o["StageName"])  # fmt: skip
    # Forecast as of 2020-12-15: open deals by close month (December on) and overdue
    # (earlier); won by the month they closed.
    monkeypatch.setenv("CRM_NOW", "2020-12-15T12:00:00+01:00")
    probability = {i: d["probability"] for i, d in enumerate(deals)}
    f = report(crm, "forecast", "--period", "2020-09..2021-06")
    best: dict[str, int] = defaultdict(int)
    weighted: dict[str, int] = defaultdict(int)
    won: dict[str, int] = defaultdict(int)
    for i, o in enumerate(opps):
        month = o["closedate"][:7]  # no close time here falls near a month's end in Madrid
        if i in closed:
            if "Won" in o["StageName"] and "2020-09" <= month <= "2021-06":
                won[month] += cents[i]
            continue
        key = "overdue" if month < "2020-12" else month
        if key != "overdue" and month > "2021-06":
            continue
        best[key] += cents[i]
        weighted[key] += cents[i] * probability[i] / 100
    got = {x["month"]: x for x in f["rows"]}
    for key in set(best) | set(won):
        x = got[key]
        assert int(Decimal(x["won"]) * 100) == won[key], key
        assert int(Decimal(x["best"]) * 100) == won[key] + best[key], key
        # Weighted sums are rounded to the cent once per stage probability (4 here).
        assert abs(int(Decimal(x["weighted"]) * 100) - (won[key] + weighted[key])) <= 2, key
    assert {k for k, x in got.items() if x["best"] != "0.00"} == set(best) | set(won)
