"""Coupons (crm coupon issue/list/show), coupons on orders and imports, and the coupon rows
of crm report campaign, checked against counts worked out by hand."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from crm_cli.domain import coupons


@pytest.fixture
def spring(crm):
    """Five customers tagged r (P3 opted out), a segment and a letter campaign."""
    for i in range(5):
        crm("contact", "add", f"P{i}", "--email", f"p{i}@example.com", "--tag", "r",
            "--street", f"{i} Main St", "--city", "Town", "--postal-code", f"0800{i}")  # fmt: skip
    crm("contact", "add", "Outsider", "--email", "out@example.com")
    crm("contact", "edit", "P3", "--consent", "opted_out")
    crm("segment", "add", "r", "tag:r")
    crm("campaign", "add", "spring", "--segment", "r", "--channel", "letter")
    return crm


def _codes(crm) -> dict[str, str]:
    return {c["name"]: c["code"] for c in crm.json("coupon", "list", "spring")}


def test_issue_unique_prefixed_codes_and_skip_opted_out(spring):
    r = spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "wknd",
               "--discount", "10%")  # fmt: skip
    assert r.stdout.strip() == "4"
    assert "4 new, 0 already had one, 1 opted out" in r.stderr
    codes = _codes(spring)
    assert set(codes) == {"P0", "P1", "P2", "P4"}
    assert len(set(codes.values())) == 4
    for code in codes.values():
        assert code.startswith("WKND") and len(code) == 12
        assert set(code[4:]) <= set(coupons.ALPHABET)
        assert not set(code[4:]) & set("01OIL")


def test_issue_is_idempotent_and_gives_only_new_members_codes(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND")
    before = _codes(spring)
    spring("contact", "add", "P5", "--email", "p5@example.com", "--tag", "r")
    r = spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND")
    assert r.stdout.strip() == "1"
    assert "1 new, 4 already had one, 1 opted out" in r.stderr
    after = _codes(spring)
    assert {k: after[k] for k in before} == before
    assert set(after) == set(before) | {"P5"}
    r = spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND")
    assert r.stdout.strip() == "0"


def test_list_csv_for_mail_merge_and_show(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WK", "--length", "6",
           "--discount", "5 EUR")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(spring("coupon", "list", "spring", "--csv").stdout)))
    assert [r["name"] for r in rows] == ["P0", "P1", "P2", "P4"]
    p1 = rows[1]
    assert (p1["email"], p1["street"], p1["city"], p1["postal_code"]) == (
        "p1@example.com", "1 Main St", "Town", "08001")  # fmt: skip
    assert p1["discount"] == "5.00 EUR" and len(p1["code"]) == 8
    shown = spring.json("coupon", "show", p1["code"].lower())
    assert shown["code"] == p1["code"] and shown["name"] == "P1" and shown["orders"] == []
    table = spring("coupon", "show", p1["code"]).stdout
    assert p1["code"] in table and "5.00 EUR" in table


def _order(crm, who, number, total, code=None, status="paid"):
    args = ["order", "add", "-c", who, "--number", number, "--line", f"S:1:{total}",
            "--date", "2026-03-07", "--status", status]  # fmt: skip
    return crm(*args, *(["--coupon", code] if code else []))


def test_order_with_coupon_records_code_and_discount(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND",
           "--discount", "10%")  # fmt: skip
    code = _codes(spring)["P0"]
    oid = _order(spring, "P0", "A1", "19.99", code.lower()).stdout.strip()
    o = spring.json("order", "show", oid)
    assert o["coupon_code"] == code
    assert o["discount_minor"] == 200 and o["discount"] == "2.00"  # 10% of 19.99, half up
    assert o["total_minor"] == 1999
    assert [x["number"] for x in spring.json("order", "list", f"coupon:{code}")] == ["A1"]
    _order(spring, "P1", "A2", "5")
    assert [x["number"] for x in spring.json("order", "list", "has:coupon")] == ["A1"]


def test_amount_off_is_capped_at_the_total_and_needs_the_same_currency(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "X", "--discount", "5 EUR")
    code = _codes(spring)["P0"]
    _order(spring, "P0", "B1", "3.00", code)
    assert spring.json("order", "show", "B1")["discount_minor"] == 300
    r = spring.fails("order", "add", "-c", "P0", "--number", "B2", "--line", "S:1:9",
                     "--currency", "USD", "--coupon", code, code=1)  # fmt: skip
    assert "USD" in r.stderr


def test_errors_are_one_line_with_the_right_code(spring):
    r = spring.fails("order", "add", "-c", "P0", "--number", "C1", "--line", "S:1:9",
                     "--coupon", "NOPE", code=3)  # fmt: skip
    assert "NOPE" in r.stderr
    assert spring.json("order", "list") == []
    spring.fails("coupon", "show", "NOPE", code=3)
    spring.fails("coupon", "list", "autumn", code=3)
    spring.fails("coupon", "issue", "autumn", "--segment", "r", "--prefix", "W", code=3)
    spring.fails("coupon", "issue", "spring", "--segment", "nope", "--prefix", "W", code=3)
    spring.fails("coupon", "issue", "spring", "--segment", "r", "--prefix", "W-1", code=1)
    spring.fails("coupon", "issue", "spring", "--segment", "r", "--prefix", "W",
                 "--length", "3", code=1)  # fmt: skip
    for bad in ("0%", "150%", "x%", "-5 EUR", "abc"):
        spring.fails("coupon", "issue", "spring", "--segment", "r", "--prefix", "W",
                     "--discount", bad, code=1)  # fmt: skip
    assert spring.json("coupon", "list", "spring") == []


def test_import_orders_reads_a_coupon_column(spring, tmp_path):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND",
           "--discount", "10%")  # fmt: skip
    codes = _codes(spring)
    f = tmp_path / "orders.csv"
    f.write_text(
        "Order Number,Customer Email,Date,SKU,Qty,Price,Promo Code\n"
        f"I1,p0@example.com,2026-03-07,S,2,10.00,{codes['P0'].lower()}\n"
        f"I1,p0@example.com,2026-03-07,T,1,5.00,{codes['P0']}\n"
        "I2,p1@example.com,2026-03-07,S,1,5.00,\n"
        "I3,p1@example.com,2026-03-07,S,1,5.00,BOGUS\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    r = spring("import", "orders", str(f), "--rejects", str(rejects), ok=False)
    assert r.exit_code == 11, r.stderr
    assert "BOGUS" in rejects.read_text(encoding="utf-8")
    i1 = spring.json("order", "show", "I1")
    assert (i1["coupon_code"], i1["total_minor"], i1["discount_minor"]) == (codes["P0"], 2500, 250)
    assert spring.json("order", "show", "I2")["coupon_code"] is None
    spring.fails("order", "show", "I3", code=3)
    r = spring("import", "orders", str(f), "--rejects", str(rejects), ok=False)  # again
    assert "0 created, 0 updated" in r.stderr


def _metrics(crm, *args) -> dict[str, dict]:
    return {r["metric"]: r for r in crm.json("report", "campaign", "spring", *args)["rows"]}


def test_report_coupon_rows_match_hand_counts(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND",
           "--discount", "10%")  # fmt: skip
    c = _codes(spring)
    _order(spring, "P0", "O1", "10.00", c["P0"])  # paid, own code: discount 1.00
    _order(spring, "P0", "O2", "20.00", c["P0"])  # same code again: 2.00
    _order(spring, "Outsider", "O3", "30.00", c["P1"])  # someone else: 3.00
    _order(spring, "P2", "O4", "40.00", c["P2"], status="refunded")  # not paid
    _order(spring, "P4", "O5", "50.00")  # no coupon
    m = _metrics(spring)
    assert m["coupons issued"]["count"] == 4
    # redeemed: distinct codes on paid orders = P0's and P1's = 2 of 4
    assert (m["coupons redeemed"]["count"], m["coupons redeemed"]["pct"]) == (2, 50.0)
    assert m["orders with a coupon"]["count"] == 3
    assert m["orders with a coupon, not paid"]["count"] == 1
    assert m["coupon revenue"]["amount"] == {"EUR": "60.00"}
    assert m["coupon discount"]["amount"] == {"EUR": "6.00"}
    assert (
        m["coupons used by someone else"]["count"],
        m["coupons used by someone else"]["pct"],
    ) == (1, 25.0)
    other = m["used by someone else: order O3"]
    assert c["P1"] in other["note"] and "Outsider" in other["note"]
    rows = list(csv.DictReader(io.StringIO(spring("report", "campaign", "spring", "--csv").stdout)))
    by = {r["metric"]: r for r in rows}
    assert by["coupons redeemed"]["count"] == "2" and by["coupon revenue"]["amount"] == "60.00 EUR"
    table = spring("report", "campaign", "spring").stdout
    assert "coupons redeemed" in table and "used by someone else: order O3" in table


def test_report_without_coupons_has_no_coupon_rows(spring):
    assert not any(k.startswith("coupon") for k in _metrics(spring))


def test_m014_adds_coupons_to_an_older_database(tmp_path, monkeypatch):
    from crm_cli.storage import migrations, open_db

    path = tmp_path / "old.db"
    before = [m for m in migrations.MIGRATIONS if m[0] < "m014"]
    with monkeypatch.context() as mp:
        mp.setattr(migrations, "MIGRATIONS", before)
        open_db(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO contacts (name, created_at, updated_at) VALUES ('A', 't', 't')")
    conn.execute(
        "INSERT INTO orders (contact_id, number, order_date, status, total_minor, currency,"
        " created_at, updated_at) VALUES (1, 'N1', '2026-01-01', 'paid', 100, 'EUR', 't', 't')"
    )
    conn.commit()
    conn.close()
    db = open_db(path)
    assert "m014_coupons" in {r[0] for r in db.conn.execute("SELECT name FROM _sqlite_migrations")}
    row = db.conn.execute("SELECT coupon_code, discount_minor FROM orders").fetchone()
    assert tuple(row) == (None, 0)
    cols = {r[1] for r in db.conn.execute("PRAGMA table_info(coupons)")}
    assert {"campaign_id", "contact_id", "code", "discount_pct", "issued_at"} <= cols
    db.conn.execute("INSERT INTO campaigns (name, channel, status, created_at, updated_at)"
                    " VALUES ('c', 'letter', 'draft', 't', 't')")  # fmt: skip
    ins = "INSERT INTO coupons (campaign_id, contact_id, code, issued_at) VALUES (1, 1, ?, 't')"
    db.conn.execute(ins, ("abc",))
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(ins, ("ABC2",))  # one per recipient
    db.conn.execute("DELETE FROM coupons")
    db.conn.execute(ins, ("abc",))
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(ins, ("ABC",))  # codes unique in any case
    db.close()


def test_issue_is_one_change_set_that_undo_takes_back(spring):
    spring("coupon", "issue", "spring", "--segment", "r", "--prefix", "WKND")
    assert len(spring.json("coupon", "list", "spring")) == 4
    spring("undo")
    assert spring.json("coupon", "list", "spring") == []
