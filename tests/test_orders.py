"""Orders: lines parsed exactly, totals in minor units, summaries on the contact, undo."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_cli.domain import money, orders
from crm_cli.domain.session import open_session
from crm_cli.errors import InvalidInput


@pytest.fixture
def ana(crm):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    return "ana@example.es"


def add_order(crm, *args) -> int:
    out = crm("order", "add", *args).stdout.strip()
    assert out.isdigit(), out
    return int(out)


def counts(isolated) -> tuple[int, int, int]:
    conn = sqlite3.connect(isolated / "crm.db")
    try:
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("orders", "order_lines", "change_sets")
        )
    finally:
        conn.close()


def test_acceptance_add_prints_id_and_record(crm, ana):
    r = crm("order", "add", "--contact", "ana@example.es", "--number", "A-1001", "--date",
            "2026-11-01", "--line", "SKU1:2:19.99")  # fmt: skip
    assert r.stdout == "1\n"
    o = crm.json("order", "show", "1")
    assert list(o) == list(orders.JSON_KEYS)
    assert o["number"] == "A-1001" and o["order_date"] == "2026-11-01" and o["status"] == "paid"
    assert o["contact"] == "Ana García" and o["currency"] == "EUR" and o["source"] is None
    assert o["total"] == "39.98" and o["total_minor"] == 3998
    assert o["lines"] == [
        {"sku": "SKU1", "description": None, "quantity": 2, "unit_price": "19.99",
         "unit_minor": 1999, "total": "39.98", "total_minor": 3998},
    ]  # fmt: skip
    assert crm.json("order", "show", "A-1001") == o
    assert crm.json("order", "list") == [o]


def test_summaries_follow_orders(crm, ana):
    c = crm.json("contact", "show", ana)
    assert c["order_count"] == 0 and c["spend_minor"] is None
    add_order(crm, "-c", ana, "--number", "A-1", "--date", "2026-01-15", "--line", "SKU1:2:19.99")
    add_order(crm, "-c", ana, "--number", "A-2", "--date", "2026-02-01", "--line", "SKU2:1:10")
    c = crm.json("contact", "show", ana)
    assert c["order_count"] == 2 and c["last_order_date"] == "2026-02-01"
    assert c["spend"] == "49.98" and c["spend_minor"] == 4998 and c["spend_currency"] == "EUR"
    crm("order", "status", "A-2", "refunded")  # only paid orders count
    c = crm.json("contact", "show", ana)
    assert c["order_count"] == 1 and c["last_order_date"] == "2026-01-15"
    assert c["spend_minor"] == 3998
    crm("undo")
    assert crm.json("contact", "show", ana)["spend_minor"] == 4998
    assert [c["id"] for c in crm.json("contact", "list", "orders>1")] == [c["id"]]


def test_lines_with_descriptions_defaults_and_source(crm, ana):
    oid = add_order(crm, "--contact", ana, "--number", "W-7", "--source", "shop",
                    "--line", "MUG-1:3:4.50:Taza: azul, 350 ml", "-l", ":1:3.95:Envío",
                    "--line", " SKU9 : 1 : €1,234.5 ")  # fmt: skip
    o = crm.json("order", "show", str(oid))
    assert o["order_date"] == "2026-03-10"  # today in Madrid by default
    assert o["source"] == "shop" and o["total"] == "1251.95" and o["total_minor"] == 125195
    assert [(x["sku"], x["description"], x["quantity"], x["unit_price"], x["total"]) for x in o["lines"]] == [
        ("MUG-1", "Taza: azul, 350 ml", 3, "4.50", "13.50"),
        (None, "Envío", 1, "3.95", "3.95"),
        ("SKU9", None, 1, "1234.50", "1234.50"),
    ]  # fmt: skip
    csv_out = crm("order", "list", "--csv").stdout
    assert "MUG-1:3:4.50:Taza: azul, 350 ml; :1:3.95:Envío; SKU9:1:1234.50" in csv_out
    shown = crm("order", "show", "W-7").stdout
    assert "Lines (3)" in shown and "Taza: azul, 350 ml" in shown


def test_other_currency_and_its_exponent(crm, ana):
    oid = add_order(crm, "-c", ana, "--number", "J-1", "--currency", "jpy", "--line", "X:2:1500")
    o = crm.json("order", "show", str(oid))
    assert o["currency"] == "JPY" and o["total"] == "3000" and o["total_minor"] == 3000
    r = crm.fails("order", "add", "-c", ana, "--number", "J-2", "--currency", "JPY",
                  "--line", "X:1:15.5", code=1)  # fmt: skip
    assert "JPY" in r.stderr
    add_order(crm, "-c", ana, "--number", "E-1", "--line", "X:1:1")
    # Spend is never a sum of two currencies.
    c = crm.json("contact", "show", ana)
    assert c["order_count"] == 2 and c["spend_minor"] is None and c["spend_currency"] is None
    # total>N reads N in money.currency (EUR): the yen order never matches unless named.
    numbers = lambda *f: [o["number"] for o in crm.json("order", "list", *f)]  # noqa: E731
    assert numbers("total>0.5") == ["E-1"]
    assert numbers("total>0.5", "currency:JPY") == ["J-1"]
    assert sorted(numbers("has:total")) == ["E-1", "J-1"]


def test_duplicate_number_names_the_existing_order(crm, ana, isolated):
    oid = add_order(crm, "-c", ana, "--number", "A-1001", "--line", "SKU1:1:1")
    before = counts(isolated)
    r = crm.fails("order", "add", "-c", ana, "--number", "A-1001", "--line", "SKU2:1:2", code=1)
    assert "A-1001" in r.stderr and f"order {oid}" in r.stderr
    assert counts(isolated) == before


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("SKU1", "SKU:QTY:UNIT_PRICE"),
        ("SKU1:2", "SKU:QTY:UNIT_PRICE"),
        ("SKU1:0:1.00", "at least 1"),
        ("SKU1:-1:1.00", "whole number"),
        ("SKU1:1.5:1.00", "whole number"),
        ("SKU1:two:1.00", "whole number"),
        ("SKU1::1.00", "whole number"),
        ("SKU1:1:", "unit price"),
        ("SKU1:1:abc", "abc"),
        ("SKU1:1:19,99", "'.'"),
        ("SKU1:1:-5", "negative"),
        ("SKU1:1:1.999", "decimals"),
        ("SKU1:1:5 USD", "USD"),
        ("SKU1:1:$5", "$"),
        ("::1.00", "SKU or a description"),
        (":1:1.00:", "SKU or a description"),
        ("SKU1:99999999999:1", "too large"),
        ("SKU1:1000000000:99999999999999999", "too large"),
        ("SKU\x01:1:1", "SKU"),
    ],
)
def test_bad_lines_are_refused_whole(crm, ana, isolated, line, needle):
    before = counts(isolated)
    r = crm.fails("order", "add", "-c", ana, "--number", "B-1", "--line", "OK:1:1", "--line", line,
                  code=1)  # fmt: skip
    assert needle in r.stderr
    assert counts(isolated) == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--contact", "nadie@example.es", "--number", "X", "--line", "A:1:1"], 3),
        (["--contact", "99", "--number", "X", "--line", "A:1:1"], 3),
        (["--contact", "ana@example.es", "--number", " ", "--line", "A:1:1"], 1),
        (["--contact", "ana@example.es", "--number", "X", "--line", "A:1:1", "--status", "open"], 1),
        (["--contact", "ana@example.es", "--number", "X", "--line", "A:1:1", "--currency", "EURO"], 1),
        (["--contact", "ana@example.es", "--number", "X", "--line", "A:1:1", "--currency", "XYZ"], 1),
        (["--contact", "ana@example.es", "--number", "X", "--line", "A:1:1", "--date", "someday"], 1),
        (["--contact", "ana@example.es", "--number", "X"], 2),  # --line is required
        (["--contact", "ana@example.es", "--line", "A:1:1"], 2),  # --number is required
    ],
)  # fmt: skip
def test_bad_order_input(crm, ana, isolated, args, code):
    before = counts(isolated)
    crm.fails("order", "add", *args, code=code)
    assert counts(isolated) == before


def test_status_show_delete_and_bad_refs(crm, ana):
    oid = add_order(crm, "-c", ana, "--number", "A-1", "--line", "A:1:1")
    assert crm.json("order", "status", "A-1", "cancelled")["status"] == "cancelled"
    assert crm.json("order", "status", f"#{oid}", "PAID")["status"] == "paid"
    crm.fails("order", "status", "A-1", "lost", code=1)
    crm.fails("order", "show", "A-404", code=3)
    crm.fails("order", "show", "99", code=3)
    crm.fails("order", "show", "#A-1", code=3)
    before = crm.json("order", "show", "A-1")
    assert crm("order", "delete", "A-1").stdout == f"{oid}\n"
    crm.fails("order", "show", "A-1", code=3)
    assert crm.json("contact", "show", ana)["order_count"] == 0
    crm("undo")
    assert crm.json("order", "show", "A-1") == before
    assert crm.json("contact", "show", ana)["order_count"] == 1


def test_undo_order_add_removes_order_lines_and_summary(crm, ana, isolated):
    add_order(crm, "-c", ana, "--number", "A-1", "--line", "A:1:1", "--line", "B:2:2")
    assert crm.json("history")[0]["label"] == "order add A-1"
    assert counts(isolated)[:2] == (1, 2)
    assert "order add A-1" in crm("undo").stdout
    assert counts(isolated)[:2] == (0, 0)
    c = crm.json("contact", "show", ana)
    assert c["order_count"] == 0 and c["spend_minor"] is None and c["last_order_date"] is None


def test_contact_with_orders_is_not_deleted_silently(crm, ana):
    add_order(crm, "-c", ana, "--number", "A-1", "--line", "A:1:1")
    crm.fails("contact", "delete", ana, code=1)
    assert crm.json("order", "show", "A-1")["contact"] == "Ana García"


def test_list_filters_and_sort(crm, ana):
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com")
    a = add_order(crm, "-c", ana, "--number", "A-1", "--date", "2026-03-01", "--line", "SKU1:2:60")
    b = add_order(crm, "-c", "bob@example.com", "--number", "B-1", "--date", "2025-12-01",
                  "--line", "SKU2:1:20:Libro", "--source", "pos")  # fmt: skip
    c = add_order(crm, "-c", ana, "--number", "A-2", "--date", "2026-02-20", "--line", "SKU2:1:5")
    crm("order", "status", "A-2", "refunded")

    def ids(*f):
        return [o["id"] for o in crm.json("order", "list", *f)]

    assert ids() == [a, c, b]  # newest first
    assert ids("total>100") == [a]
    assert ids("total<=20") == [c, b]
    assert ids("sku:SKU1") == [a]
    assert ids("sku:sku2") == [c, b]
    assert ids("item~libro") == [b]
    assert ids("date>-30d") == [a, c]
    assert ids("date:2025-12-01") == [b]
    assert ids("contact~garc") == [a, c]
    assert ids("email:bob@example.com") == [b]
    assert ids("status:refunded") == [c]
    assert ids("!status:paid or source:pos") == [c, b]
    assert ids("quantity>=2") == [a]
    assert ids("currency:eur", "--sort", "total") == [c, b, a]
    assert ids("--sort", "number") == [a, c, b]
    assert ids("--limit", "1") == [a]
    crm.fails("order", "list", "status:piad", code=1)
    crm.fails("order", "list", "total>abc", code=1)
    crm.fails("order", "list", "--sort", "colour", code=1)
    table = crm("order", "list").stdout
    assert "A-1" in table and "120.00" in table


def test_domain_add_and_list(crm, ana, isolated):
    db = open_session(str(isolated / "crm.db"), actor="tester")
    o = orders.add(db, contact=ana, number="D-1", lines=["X:3:0.10"], date="2026-01-01")
    assert o.total_minor == 30 and o.total == "0.30" and o.lines[0]["unit_minor"] == 10
    assert [x.id for x in orders.list_orders(db, ["total:0.30"])] == [o.id]
    db.close()


def test_all_digit_references_are_never_silently_the_wrong_order(crm, ana, isolated):
    first = add_order(crm, "-c", ana, "--number", "N1", "--line", "A:1:1")
    second = add_order(crm, "-c", ana, "--number", "N2", "--line", "A:1:2")
    third = add_order(crm, "-c", ana, "--number", "1", "--line", "A:1:3")
    same = add_order(crm, "-c", ana, "--number", "4", "--line", "A:1:4")
    assert (first, second, third, same) == (1, 2, 3, 4)
    # '1' is order 1's id and order 3's number: refused, naming both and how to say which.
    before = counts(isolated)
    r = crm.fails("order", "show", "1", code=1)
    assert "order id 1" in r.stderr and "N1" in r.stderr and "order 3" in r.stderr
    assert "#1" in r.stderr and '"1"' in r.stderr
    crm.fails("order", "status", "1", "refunded", code=1)
    crm.fails("order", "delete", "1", code=1)
    assert counts(isolated) == before
    assert crm.json("order", "show", "#1")["number"] == "N1"
    assert crm.json("order", "show", '"1"')["id"] == third
    assert crm.json("order", "show", "'1'")["id"] == third
    assert crm.json("order", "status", '"1"', "refunded")["id"] == third
    # Only one match: that one.
    assert crm.json("order", "show", "2")["number"] == "N2"  # an id; no order numbered 2
    assert crm.json("order", "show", "4")["id"] == same  # id and number of the same order
    assert crm.json("order", "show", "n2")["id"] == second  # numbers ignore case
    crm.fails("order", "show", '"2"', code=3)  # no order numbered 2
    crm.fails("order", "show", "#9", code=3)
    crm.fails("order", "show", '""', code=1)


def test_order_numbers_are_unique_ignoring_case(crm, ana, isolated):
    oid = add_order(crm, "-c", ana, "--number", "N1", "--line", "A:1:1")
    before = counts(isolated)
    r = crm.fails("order", "add", "-c", ana, "--number", "n1", "--line", "A:1:1", code=1)
    assert f"order {oid}" in r.stderr and "N1" in r.stderr
    assert "Traceback" not in r.stderr
    assert counts(isolated) == before
    assert crm.json("order", "show", "n1")["id"] == oid


def test_amounts_are_capped_so_sums_cannot_overflow(crm, ana, isolated):
    add_order(crm, "-c", ana, "--number", "BIG-1", "--line", "X:1:50000000000")
    add_order(crm, "-c", ana, "--number", "BIG-2", "--line", "X:1:50000000000")
    c = crm.json("contact", "show", ana)
    assert c["spend_minor"] == 2 * 5 * 10**12 and c["spend"] == "100000000000.00"
    assert "Ana García" in crm("contact", "show", ana).stdout
    assert len(crm.json("contact", "list", "orders>=2")) == 1
    before = counts(isolated)
    r = crm.fails("order", "add", "-c", ana, "--number", "BIG-3",
                  "--line", "X:1:50000000000000000", code=1)  # fmt: skip
    assert "too large" in r.stderr and "100000000000.00 EUR" in r.stderr
    r = crm.fails("order", "add", "-c", ana, "--number", "BIG-3",
                  "--line", "X:2:60000000000", code=1)  # fmt: skip
    assert "line total is too large" in r.stderr
    r = crm.fails("order", "add", "-c", ana, "--number", "BIG-3",
                  "--line", "X:1:60000000000", "--line", "Y:1:60000000000", code=1)  # fmt: skip
    assert "the order total is too large (at most 100000000000.00 EUR)" in r.stderr
    r = crm.fails("order", "add", "-c", ana, "--number", "BIG-3", "--currency", "JPY",
                  "--line", "X:1:10000000000001", code=1)  # fmt: skip
    assert "10000000000000 JPY" in r.stderr
    assert counts(isolated) == before
    ok = add_order(crm, "-c", ana, "--number", "BIG-3", "--line", "X:1:100000000000")
    assert crm.json("order", "show", str(ok))["total_minor"] == orders.MAX_TOTAL_MINOR


def test_show_table_in_local_time_and_help_for_orders(crm, ana):
    oid = add_order(crm, "-c", ana, "--number", "A-1", "--line", "A:1:1")
    o = crm.json("order", "show", str(oid))
    assert o["created_at"] == o["updated_at"] == "2026-03-10T08:00:00Z"
    shown = crm("order", "show", str(oid)).stdout
    assert "2026-03-10 09:00" in shown and "08:00:00Z" not in shown
    assert "08:00:00Z" in crm("order", "show", str(oid), "--csv").stdout
    out = " ".join(crm("order", "list", "--help").stdout.split())
    assert "'date>-30d'" in out and "sku:SKU1" in out and "'total>100'" in out
    assert "ANDed" in out and "README.md" in out and "tag:vip" not in out
    assert "#12" in " ".join(crm("order", "show", "--help").stdout.split())


# -- the line parser -----------------------------------------------------------

_SKU = (
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters=":"
        ),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
_DESC = st.none() | st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
).map(str.strip).filter(bool)


@given(
    sku=_SKU,
    quantity=st.integers(1, 10**6),
    unit=st.integers(0, 10**7),  # up to the cap: 10**6 * 10**7 == orders.MAX_TOTAL_MINOR
    description=_DESC,
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD"]),
)
def test_valid_lines_round_trip(sku, quantity, unit, description, currency):
    import unicodedata

    sku = unicodedata.normalize("NFC", sku).strip()
    if description is not None:
        description = unicodedata.normalize("NFC", description).strip()
    if not sku or description == "" or any(c.isspace() and c != " " for c in sku):
        return
    line = orders.Line(sku, quantity, unit, description)
    text = orders.format_line(line, currency)
    assert orders.parse_line(text, currency) == line
    assert line.total_minor == quantity * unit
    assert money.format(unit, currency) in text


@given(text=st.text(max_size=60), currency=st.sampled_from(["EUR", "JPY"]))
def test_garbage_lines_raise_invalid_input_only(text, currency):
    try:
        line = orders.parse_line(text, currency)
    except InvalidInput:
        return
    assert line.quantity >= 1 and line.unit_minor >= 0
    assert line.sku or line.description
    assert orders.parse_line(orders.format_line(line, currency), currency) == line


@given(
    parts=st.lists(
        st.one_of(st.text(max_size=8), st.integers(-5, 10**12).map(str), st.just("1.5")),
        min_size=1,
        max_size=5,
    )
)
def test_colon_joined_garbage_raises_invalid_input_only(parts):
    text = ":".join(parts)
    try:
        orders.parse_line(text, "EUR")
    except InvalidInput:
        pass
