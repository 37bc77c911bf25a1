"""crm import deals / orders against the real files in ../shared/realdata/csv."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

CSV = Path("../shared/realdata/csv")
SF = CSV / "salesforce-apex-recipes"
CHINOOK = CSV / "chinook"
RETAIL = CSV / "online-retail"

pytestmark = pytest.mark.skipif(not CSV.is_dir(), reason="needs ../shared/realdata")


def _import(crm, kind, path, tmp_path, *extra, ok=True):
    rejects = tmp_path / f"{Path(path).name}.{kind}.rejects.csv"
    r = crm("import", kind, str(path), "--rejects", str(rejects), "--json", *extra, ok=ok)
    return json.loads(r.stdout), rejects


def _db(tmp_path):
    return sqlite3.connect(tmp_path / "crm.db")


def test_salesforce_accounts_then_opportunities(crm, tmp_path):
    res, _ = _import(crm, "orgs", SF / "Accounts.csv", tmp_path)
    assert res["created"] >= 49
    res, _ = _import(crm, "deals", SF / "Opportunities.csv", tmp_path)
    assert (res["created"], res["rejected"], res["preset"]) == (50, 0, "salesforce-opportunities")
    deals = crm.json("deal", "list", "status:open")
    won = crm.json("deal", "list", "status:won")
    lost = crm.json("deal", "list", "status:lost")
    assert len(deals) + len(won) + len(lost) == 50
    assert {d["title"] for d in won} == {"Paradoxure", "Giraffe", "Scarlet macaw"}
    assert [d["title"] for d in lost] == ["Lizard, mexican beaded"]
    assert lost[0]["custom"]["stage"] == "Closed Lost"
    by_title = {d["title"]: d for d in deals + won + lost}
    cape = by_title["Cape starling"]
    assert (cape["amount_minor"], cape["currency"]) == (11937334, "EUR")
    assert cape["expected_close_date"] == "2020-12-22"
    # Salesforce stages map onto ours by name; the original text is kept.
    assert (cape["stage"], cape["custom"]["stage"]) == ("proposal", "Id. Decision Makers")
    stork = by_title["Stork, white-necked"]  # the bogus "Assigned dynamically"
    assert (stork["stage"], stork["custom"]["stage"]) == ("lead", "Assigned dynamically")
    assert by_title["Roller, lilac-breasted"]["stage"] == "negotiation"
    # @AccountRef18 is the 18th account of Accounts.csv (Salesforce's sObject-tree order).
    assert by_title["Paradoxure"]["org"] == "Babbleset 84"
    assert all(d["org_id"] for d in by_title.values())
    # Naughty strings survive verbatim.
    descriptions = {d["custom"].get("description") for d in by_title.values()}
    for s in ["1;DROP TABLE users", "<img src=x onerror=alert('hi') />", "\u200b", "１２３",
              "../../../../../../../../../../../etc/passwd%00", "\u202a\u202atest\u202a"]:  # fmt: skip
        assert s in descriptions, s
    # The same file again creates nothing; the sObject-tree JSON holds the same deals.
    res, _ = _import(crm, "deals", SF / "Opportunities.csv", tmp_path)
    assert (res["created"], res["updated"], res["unchanged"]) == (0, 0, 50)
    res, _ = _import(crm, "deals", SF / "Opportunities.sobject-tree.json", tmp_path)
    assert res["created"] == 0 and res["rejected"] == 0
    assert res["updated"] + res["unchanged"] == 50
    res, _ = _import(crm, "deals", SF / "Opportunities.sobject-tree.json", tmp_path)
    assert (res["created"], res["updated"], res["unchanged"]) == (0, 0, 50)


def test_sobject_json_alone_and_stage_map(crm, tmp_path):
    res, _ = _import(crm, "deals", SF / "Opportunities.sobject-tree.json", tmp_path,
                     "--stage-map", "Assigned dynamically=qualified",
                     "--stage-map", "Negotiation/Review=proposal")  # fmt: skip
    assert (res["created"], res["rejected"]) == (50, 0)
    deals = {d["title"]: d for d in crm.json("deal", "list", "status:open")}
    assert deals["Stork, white-necked"]["stage"] == "qualified"
    assert deals["Roller, lilac-breasted"]["stage"] == "proposal"
    # No accounts imported: the reference is kept, the deal has no organization.
    assert deals["Cape starling"]["org_id"] is None
    assert deals["Cape starling"]["custom"]["org_ref"] == "@AccountRef32"
    assert deals["Cape starling"]["custom"]["description"] == '"'


def test_bad_deal_rows_are_rejected_with_reasons(crm, tmp_path):
    f = tmp_path / "deals.csv"
    f.write_text(
        "Name,StageName,CloseDate,Amount\n"
        "Good,Qualification,2024-01-02,10\n"
        ",Qualification,2024-01-02,10\n"
        "Bad date,Qualification,not a date,10\n"
        "Bad amount,Qualification,2024-01-02,ten\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "r.csv"
    r = crm("import", "deals", str(f), "--rejects", str(rejects), ok=False)
    assert r.exit_code == 11
    rows = list(csv.reader(rejects.open(encoding="utf-8")))
    assert [row[0] for row in rows[1:]] == ["3", "4", "5"]
    assert "title" in rows[1][1]


def test_chinook_invoices_and_lines(crm, tmp_path):
    _import(crm, "contacts", CHINOOK / "Customer.csv", tmp_path)
    lines = ["--lines", str(CHINOOK / "InvoiceLine.csv")]
    res, _ = _import(crm, "orders", CHINOOK / "Invoice.csv", tmp_path, *lines)
    assert (res["created"], res["rejected"], res["preset"]) == (412, 0, "chinook-invoices")
    db = _db(tmp_path)
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 412
    assert db.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 2240
    assert not db.execute(
        "SELECT 1 FROM orders o WHERE total_minor !="
        " (SELECT sum(total_minor) FROM order_lines l WHERE l.order_id = o.id)"
    ).fetchall()
    # Invoice 1: customer 2 (Leonie Köhler), 1.98 over two lines.
    o = crm.json("order", "show", '"1"')
    assert (o["contact"], o["total"], o["order_date"], len(o["lines"])) == (
        "Leonie Köhler", "1.98", "2021-01-01", 2)  # fmt: skip
    count, spend = db.execute(
        "SELECT order_count, spend_minor FROM contacts WHERE name = 'Leonie Köhler'"
    ).fetchone()
    assert (count, spend) == (7, 3762)
    total = db.execute("SELECT sum(spend_minor) FROM contacts").fetchone()[0]
    assert total == db.execute("SELECT sum(total_minor) FROM orders").fetchone()[0]
    res2, _ = _import(crm, "orders", CHINOOK / "Invoice.csv", tmp_path, *lines)
    assert (res2["created"], res2["updated"], res2["unchanged"]) == (0, 0, 412)
    crm("import", "revert", str(res["import_id"]))
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 0
    assert db.execute("SELECT max(order_count) FROM contacts").fetchone()[0] == 0


def test_chinook_invoices_need_customers_and_lines(crm, tmp_path):
    res, rejects = _import(crm, "orders", CHINOOK / "Invoice.csv", tmp_path, "--lines",
                           str(CHINOOK / "InvoiceLine.csv"), ok=False)  # fmt: skip
    assert (res["created"], res["rejected"]) == (0, 412)
    assert "import the customers first" in rejects.read_text(encoding="utf-8")
    _import(crm, "contacts", CHINOOK / "Customer.csv", tmp_path)
    res, rejects = _import(crm, "orders", CHINOOK / "Invoice.csv", tmp_path, ok=False)
    assert res["rejected"] == 412
    assert "--lines" in rejects.read_text(encoding="utf-8")


def test_online_retail_groups_refunds_and_rejects(crm, tmp_path):
    res, rejects = _import(crm, "orders", RETAIL / "online_retail_first2000.csv", tmp_path,
                           "--batch", "7", ok=False)  # fmt: skip
    assert (res["created"], res["rejected"]) == (1467, 533)
    reasons = [r["reason"] for r in csv.DictReader(rejects.open(encoding="utf-8"))]
    assert len(reasons) == 533 and all(r.startswith("no customer") for r in reasons)
    db = _db(tmp_path)
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 90
    assert db.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 1467
    refunded = db.execute(
        "SELECT number FROM orders WHERE status = 'refunded' ORDER BY number"
    ).fetchall()
    assert len(refunded) == 6 and all(n.startswith("C") for (n,) in refunded)
    assert ("C536379",) in refunded
    assert db.execute("SELECT DISTINCT currency FROM orders").fetchall() == [("GBP",)]
    o = crm.json("order", "show", "536365")
    assert (o["contact"], len(o["lines"]), o["lines"][0]["sku"]) == ("Customer 17850", 7, "85123A")
    c = crm.json("contact", "show", "Customer 17850")
    assert c["country"] == "United Kingdom"
    # Again, with another batch size: nothing new.
    res, _ = _import(crm, "orders", RETAIL / "online_retail_first2000.csv", tmp_path, ok=False)
    assert (res["created"], res["updated"], res["unchanged"]) == (0, 0, 1467)
    assert db.execute("SELECT count(*) FROM order_lines").fetchone()[0] == 1467


def test_online_retail_full_year(crm, tmp_path):
    res, _ = _import(crm, "orders", RETAIL / "online_retail_28customers_fullyear.csv", tmp_path)
    assert (res["created"], res["rejected"]) == (1652, 0)
    db = _db(tmp_path)
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == 28
    assert db.execute("SELECT count(*) FROM orders WHERE status = 'refunded'").fetchone()[0] == 14
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 114


def test_dry_run_writes_nothing(crm, tmp_path):
    res, rejects = _import(crm, "orders", RETAIL / "online_retail_first2000.csv", tmp_path,
                           "--dry-run", ok=False)  # fmt: skip
    assert res["dry_run"] and (res["created"], res["rejected"]) == (1467, 533)
    assert not rejects.exists()
    res, _ = _import(crm, "deals", SF / "Opportunities.csv", tmp_path, "--dry-run")
    assert res["created"] == 50
    db = _db(tmp_path)
    for table in ("orders", "order_lines", "deals", "external_ids"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
