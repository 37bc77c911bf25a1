"""Segments: saved contact filters, evaluated fresh; the filter fields they need (spent,
orders, last_activity, campaign, replied, email_status); the domain API campaigns use."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_cli.domain import contacts, filters, segments
from crm_cli.domain.selectors import where_for
from crm_cli.domain.session import open_session
from crm_cli.errors import Conflict, InvalidInput, NotFound
from crm_cli.query import Amount, And, Cond, Not, Or, render
from crm_cli.storage.db import transaction
from crm_cli.storage.filters import CONTACT_FIELDS, compile_filter, filter_types


def add_contact(crm, name: str, *args: str) -> int:
    out = crm("contact", "add", name, *args).stdout.strip()
    assert out.isdigit(), out
    return int(out)


def order(crm, who: str, number: str, price: str, *args: str) -> None:
    crm("order", "add", "-c", who, "--number", number, "--line", f"SKU:1:{price}", *args)


def members(crm, *args: str) -> list[int]:
    return [c["id"] for c in crm.json("segment", "show", *args)]


def listed(crm, *args: str) -> list[int]:
    return [c["id"] for c in crm.json("contact", "list", *args)]


@pytest.fixture
def people(crm):
    """Ana (vip, 3 paid EUR orders, 700), Bob (1 USD order, 900), Carla (nothing)."""
    ana = add_contact(crm, "Ana García", "--email", "ana@example.es", "--tag", "vip")
    bob = add_contact(crm, "Bob Smith", "--email", "bob@example.com")
    carla = add_contact(crm, "Carla Núñez", "--email", "carla@example.org", "--tag", "vip")
    for i, price in enumerate(("100", "200", "400")):
        order(crm, "ana@example.es", f"A-{i}", price)
    order(crm, "bob@example.com", "B-1", "900", "--currency", "USD")
    return ana, bob, carla


# -- the commands --------------------------------------------------------------


def test_add_list_show_count_edit_delete(crm, people):
    ana, bob, carla = people
    r = crm("segment", "add", "VIP buyers", "tag:vip", "orders>=3", "-d", "Our best")
    assert r.stdout == "1\n" and r.stderr == ""
    assert members(crm, "VIP buyers") == [ana]
    assert members(crm, "vip BUYERS") == [ana]  # names ignore case
    assert members(crm, "1") == members(crm, "#1") == [ana]
    assert crm("segment", "count", "VIP buyers").stdout == "1\n"

    [row] = crm.json("segment", "list")
    assert row == {"id": 1, "name": "VIP buyers", "filter": "tag:vip orders>=3",
                   "description": "Our best", "created_at": "2026-03-10T08:00:00Z",
                   "updated_at": "2026-03-10T08:00:00Z", "count": 1}  # fmt: skip
    table = crm("segment", "list").stdout
    assert "VIP buyers" in table and "tag:vip orders>=3" in table and "Our best" in table

    # edit: a new filter, a new name, the description cleared; prints the id
    assert (
        crm("segment", "edit", "vip buyers", "tag:vip", "--name", "VIPs", "-d", "").stdout == "1\n"
    )
    seg = crm.json("segment", "list")[0]
    assert (seg["name"], seg["filter"], seg["description"], seg["count"]) == (
        "VIPs",
        "tag:vip",
        None,
        2,
    )
    assert members(crm, "VIPs") == [ana, carla]
    crm("segment", "edit", "VIPs", "--name", "vips")  # a change of case only is no clash
    assert crm.json("segment", "list")[0]["name"] == "vips"

    assert crm("segment", "delete", "vips").stdout == "1\n"
    assert crm.json("segment", "list") == []
    crm.fails("segment", "show", "vips", code=3)


def test_show_has_the_shape_of_contact_list(crm, people):
    crm("segment", "add", "buyers", "has:spent or orders>=1")
    assert crm.json("segment", "show", "buyers") == crm.json("contact", "list", "orders>=1")
    shown = crm("segment", "show", "buyers", "--csv").stdout
    assert shown == crm("contact", "list", "orders>=1", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(shown)))
    assert list(rows[0]) == list(contacts.JSON_KEYS)
    assert [r["name"] for r in rows] == ["Ana García", "Bob Smith"]
    # --limit and --sort as in contact list; a table for people
    assert [c["name"] for c in crm.json("segment", "show", "buyers", "--sort", "-name")] == [
        "Bob Smith", "Ana García"]  # fmt: skip
    assert len(crm.json("segment", "show", "buyers", "--limit", "1")) == 1
    table = crm("segment", "show", "buyers").stdout
    assert table.splitlines()[0].split() == ["id", "name", "org", "email", "phone", "stage",
                                             "tags", "owner"]  # fmt: skip
    ndjson = crm("segment", "show", "buyers", "--ndjson").stdout.splitlines()
    assert len(ndjson) == 2
    listing = crm("segment", "list", "--csv").stdout.splitlines()
    assert listing[0] == "id,name,filter,description,created_at,updated_at,count"
    assert listing[1].endswith(",2")


def test_evaluated_fresh_each_time(crm, people):
    crm("segment", "add", "spain", "email~.es")
    assert crm("segment", "count", "spain").stdout == "1\n"
    dora = add_contact(crm, "Dora", "--email", "dora@example.es")
    assert crm("segment", "count", "spain").stdout == "2\n"
    assert members(crm, "spain")[-1] == dora
    crm("contact", "delete", str(dora), "--yes")
    assert crm("segment", "count", "spain").stdout == "1\n"


def test_errors_are_one_line_with_their_exit_codes(crm, people):
    crm("segment", "add", "vips", "tag:vip")
    r = crm.fails("segment", "add", "x", "bogus:1", code=1)
    assert "unknown field 'bogus'" in r.stderr
    r = crm.fails("segment", "add", "x", "tag:vip (orders>1", code=1)
    assert "never closed" in r.stderr
    r = crm.fails("segment", "add", "x", "orders>three", code=1)
    assert "whole number" in r.stderr
    r = crm.fails("segment", "add", "x", "stage:nope", code=1)
    assert "stage" in r.stderr
    r = crm.fails("segment", "add", "x", "email_status:bouncd", code=1)
    assert "bounced" in r.stderr
    r = crm.fails("segment", "add", "VIPS", "tag:x", code=1)
    assert "segment 'vips' already exists" in r.stderr
    crm.fails("segment", "add", "", "tag:x", code=1)
    crm.fails("segment", "add", "2024", "tag:x", code=1)  # would read as an id
    crm.fails("segment", "add", "a\nb", "tag:x", code=1)
    crm.fails("segment", "add", "blank", "  ", code=1)
    crm.fails("segment", "add", "nofilter", code=2)  # usage: FILTER is required
    r = crm.fails("segment", "show", "nope", code=3)
    assert r.stderr == "crm: error: no segment 'nope'\n"
    crm.fails("segment", "count", "99", code=3)
    crm.fails("segment", "delete", "nope", code=3)
    crm.fails("segment", "edit", "nope", "tag:x", code=3)
    crm.fails("segment", "edit", "vips", code=1)  # nothing to change
    crm.fails("segment", "edit", "vips", "bogus:1", code=1)
    crm("segment", "add", "other", "tag:x")
    r = crm.fails("segment", "edit", "other", "--name", "VIPs", code=1)
    assert "already exists" in r.stderr
    crm.fails("segment", "show", "vips", "--json", "--csv", code=1)
    # nothing was written by the failures
    assert [s["name"] for s in crm.json("segment", "list")] == ["other", "vips"]


def test_delete_refuses_while_a_campaign_uses_it(crm, people, isolated):
    crm("segment", "add", "vips", "tag:vip")
    db = open_session()
    with transaction(db, "campaign add") as tx:
        tx.insert("campaigns", {"name": "Spring sale", "segment_id": 1,
                                "created_at": tx.at, "updated_at": tx.at})  # fmt: skip
    db.close()
    r = crm.fails("segment", "delete", "vips", code=1)
    assert r.stderr == "crm: error: segment 'vips' is used by campaign 'Spring sale'\n"
    assert crm("segment", "count", "vips").stdout == "2\n"


def test_undo_segment_add_edit_delete(crm, people):
    crm("segment", "add", "vips", "tag:vip")
    crm("undo")
    assert crm.json("segment", "list") == []
    crm("segment", "add", "vips", "tag:vip")
    crm("segment", "edit", "vips", "orders>=3")
    crm("undo")
    assert crm.json("segment", "list")[0]["filter"] == "tag:vip"
    crm("segment", "delete", "vips")
    crm("undo")
    assert crm("segment", "count", "vips").stdout == "2\n"


def test_a_filter_gone_stale_is_named_in_list_and_an_error_in_show(crm, people, isolated):
    crm("segment", "add", "leads", "stage:lead")
    crm("segment", "add", "vips", "tag:vip")
    conn = sqlite3.connect(isolated / "crm.db")  # as if the stage were removed from config
    conn.execute("UPDATE segments SET filter = 'stage:gone' WHERE name = 'leads'")
    conn.commit()
    conn.close()
    r = crm("segment", "list", "--json")
    assert [(s["name"], s["count"]) for s in json.loads(r.stdout)] == [
        ("leads", None), ("vips", 2)]  # fmt: skip
    assert r.stderr.startswith("segment 'leads': ")
    r = crm.fails("segment", "show", "leads", code=1)
    assert r.stderr.startswith("crm: error: segment 'leads': ")


# -- the filter fields -----------------------------------------------------------


def test_spent_compares_in_one_currency(crm, people):
    ana, bob, carla = people
    assert listed(crm, "spent>500") == [ana]  # EUR (money.currency): Bob's 900 USD is not 900 EUR
    assert listed(crm, "spent>500", "currency:USD") == [bob]
    assert listed(crm, "spent>500 currency:usd") == [bob]
    assert listed(crm, "spent>=700") == [ana] and listed(crm, "spent>700") == []
    assert listed(crm, "spent:700") == [ana] and listed(crm, "spent<100") == []
    assert listed(crm, "spent>699.99") == [ana] and listed(crm, "spent>€1,000") == []
    assert listed(crm, "no:spent") == [carla]
    assert listed(crm, "currency:EUR") == [ana]
    assert listed(crm, "!spent>500") == [bob, carla]  # not more than 500 EUR
    crm.fails("contact", "list", "spent>5", "currency:XYZ", code=1)
    crm("segment", "add", "big", "spent>500")
    assert members(crm, "big") == [ana]
    order(crm, "bob@example.com", "B-2", "50")  # Bob now buys in two currencies: no total
    assert listed(crm, "spent>500", "currency:USD") == []


def test_orders_and_last_activity_as_the_issue_writes_them(crm, people):
    ana, bob, carla = people
    crm("log", "call", "-c", "ana@example.es", "--at", "-100d")
    crm("log", "call", "-c", "bob@example.com", "--at", "-10d")
    assert listed(crm, "orders>=3") == [ana]
    # The shell passes last_activity<-90d; typed inside one string it keeps its quotes.
    assert listed(crm, "last_activity<-90d") == [ana]
    assert listed(crm, 'last_activity<"-90d"') == [ana]
    crm("segment", "add", "lapsed", 'last_activity<"-90d"')
    crm("segment", "add", "lapsed buyers", "last_activity<-90d", "orders>=3")
    assert members(crm, "lapsed") == members(crm, "lapsed buyers") == [ana]
    assert crm.json("segment", "list")[0]["filter"] == 'last_activity<"-90d"'


def test_last_activity_is_relative_to_the_clock_when_read(crm, people, monkeypatch):
    ana, bob, carla = people
    crm("log", "call", "-c", "bob@example.com", "--at", "-10d")
    crm("segment", "add", "quiet", "last_activity<-90d")
    assert members(crm, "quiet") == []
    monkeypatch.setenv("CRM_NOW", "2026-07-01T09:00:00+02:00")  # 113 days later
    assert members(crm, "quiet") == [bob]


def seed_campaign(
    name: str, recipients: dict[int, str], replies: dict[int, str] | None = None
) -> None:
    """A campaign with recipient rows (contact -> state) and mail in reply (contact -> kind)."""
    replies = replies or {}
    db = open_session()
    with transaction(db, "campaign send") as tx:
        cid = tx.insert("campaigns", {"name": name, "created_at": tx.at, "updated_at": tx.at})
        for contact, state in recipients.items():
            rid = tx.insert("campaign_recipients", {"campaign_id": cid, "contact_id": contact,
                                                    "state": state})  # fmt: skip
            kind = replies.get(contact)
            if kind is not None:
                direction, kind = ("out", "message") if kind == "outgoing" else ("in", kind)
                tx.insert("mail_messages", {
                    "message_id": f"<{name}-{contact}@example.com>", "thread_key": f"<{name}>",
                    "kind": kind, "direction": direction, "recipient_id": rid,
                    "created_at": tx.at})  # fmt: skip
    db.close()


def test_campaign_and_replied(crm, people):
    ana, bob, carla = people
    dora = add_contact(crm, "Dora", "--email", "dora@example.es")
    seed_campaign("Spring Sale", {ana: "sent", bob: "sent", carla: "failed", dora: "pending"},
                  {ana: "message", bob: "auto_reply"})  # fmt: skip
    seed_campaign("Autumn", {carla: "sent", dora: "skipped"}, {carla: "outgoing"})
    assert listed(crm, "campaign:'spring sale'") == [ana, bob]
    assert listed(crm, 'campaign:"SPRING SALE"') == [ana, bob]
    assert listed(crm, "campaign~spring") == [ana, bob]
    assert listed(crm, "campaign~sale", "!replied~sale") == [bob]
    assert listed(crm, "campaign!=autumn") == [ana, bob, dora]
    assert listed(crm, "has:campaign") == [ana, bob, carla]
    assert listed(crm, "no:campaign") == [dora]
    assert listed(crm, "campaign:spring") == []  # = is the whole name
    assert listed(crm, "replied:'spring sale'") == [ana]  # an auto-reply is no reply
    assert listed(crm, "replied:autumn") == []  # our own mail out is no reply
    assert listed(crm, "has:replied") == [ana] and listed(crm, "no:replied") == [bob, carla, dora]
    crm("segment", "add", "ignored us", "campaign:'Spring Sale'", "!replied:'Spring Sale'")
    assert members(crm, "ignored us") == [bob]


def test_email_status(crm, people, isolated):
    ana, bob, carla = people
    crm("contact", "edit", str(bob), "--add-email", "bob@old.example.com")
    conn = sqlite3.connect(isolated / "crm.db")
    conn.execute("UPDATE emails SET status = 'bounced' WHERE value = 'bob@old.example.com'")
    conn.execute("UPDATE emails SET status = 'complained' WHERE value = 'carla@example.org'")
    conn.commit()
    conn.close()
    assert listed(crm, "email_status:bounced") == [bob]
    assert listed(crm, "email_status:BOUNCED") == [bob]
    assert listed(crm, "email_status:ok") == [ana, bob]
    assert listed(crm, "!email_status:bounced", "!email_status:complained") == [ana]
    crm.fails("contact", "list", "email_status:gone", code=1)


# -- the domain API campaigns build on ---------------------------------------------


def test_domain_api(crm, people):
    ana, bob, carla = people
    db = open_session()
    try:
        seg = segments.add(db, "vips", ["tag:vip", "orders>=3 or orders:0"], description="x")
        assert isinstance(seg, segments.Segment)
        assert seg.filter == "tag:vip (orders>=3 or orders:0)" and seg.description == "x"
        assert segments.get(db, "VIPS") == seg == segments.get(db, str(seg.id))
        assert segments.member_ids(db, seg) == segments.member_ids(db, "vips") == [ana, carla]
        assert segments.count(db, seg) == 2
        assert segments.list_segments(db) == [seg]
        seg2 = segments.edit(db, "vips", filter_args=["orders>=3"], new_name="buyers")
        assert (seg2.id, seg2.name, seg2.filter, seg2.description) == (
            seg.id,
            "buyers",
            "orders>=3",
            "x",
        )
        assert segments.member_ids(db, seg2) == [ana]
        with pytest.raises(NotFound):
            segments.get(db, "vips")
        with pytest.raises(Conflict):
            segments.add(db, "BUYERS", ["tag:x"])
        with pytest.raises(InvalidInput):
            segments.add(db, "bad", ["orders>"])
        with pytest.raises(InvalidInput):
            segments.add(db, "empty", [])
        assert segments.delete(db, "buyers") == seg.id
        assert segments.list_segments(db) == []
    finally:
        db.close()


def test_unicode_names_are_unique_ignoring_case(crm, people):
    crm("segment", "add", "Ñandú", "tag:vip")
    crm.fails("segment", "add", "ñANDÚ", "tag:x", code=1)
    assert crm("segment", "count", "ñandú").stdout == "2\n"


# -- the stored text means what the arguments meant ----------------------------------

TYPES = filter_types(CONTACT_FIELDS)
_FIELDS = {
    "name": st.text(max_size=6),
    "tag": st.text(max_size=6),
    "campaign": st.text(max_size=6),
    "orders": st.integers(-5, 5),
    "spent": st.integers(0, 10**6).map(lambda m: Amount(m, 2)),
}
_OPS = {"name": ("=", "!=", "~", "!~"), "tag": ("=", "!=", "~"), "campaign": ("=", "~", "!~"),
        "orders": ("=", ">", ">=", "<", "<="), "spent": ("=", ">", "<=")}  # fmt: skip


@st.composite
def _cond(draw):
    field = draw(st.sampled_from(sorted(_FIELDS)))
    if draw(st.integers(0, 5)) == 0:
        return Cond(field, draw(st.sampled_from(["has", "no"])))
    return Cond(field, draw(st.sampled_from(_OPS[field])), draw(_FIELDS[field]))


_TREES = st.recursive(
    _cond(),
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
    ),
    max_leaves=6,
)
_RELATIVE = st.sampled_from(["last_activity<-90d", 'last_activity<"-90d"', "created>-2w",
                             "last_order>=today", "updated:yesterday"])  # fmt: skip
_PAD = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def _args(draw):
    out = []
    for _ in range(draw(st.integers(1, 4))):
        text = draw(_RELATIVE) if draw(st.integers(0, 4)) == 0 else render(draw(_TREES))
        out.append(draw(_PAD) + text + draw(_PAD))
    return out


@given(_args())
@settings(max_examples=200, deadline=None)
def test_stored_text_parses_and_compiles_like_the_arguments(args):
    joined = filters.join(args)
    assert joined == joined.strip()
    assert filters.parse([joined], TYPES) == filters.parse(args, TYPES)
    assert compile_filter(filters.parse([joined], TYPES), CONTACT_FIELDS) == compile_filter(
        filters.parse(args, TYPES), CONTACT_FIELDS
    )
    assert filters.join([joined]) == joined  # stored once more, it stays the same


def test_join_edge_cases():
    assert filters.join(["tag:vip"]) == "tag:vip"
    assert filters.join(["a:1 or b:2", "c:3"]) == "(a:1 or b:2) c:3"
    assert filters.join(["(a:1 or b:2)", "c:3"]) == "(a:1 or b:2) c:3"
    assert filters.join(["!(a:1 or b:2)", " c:3 "]) == "!(a:1 or b:2) c:3"
    assert filters.join(["name:a\\ ", "c:3"]) == "name:a\\  c:3"  # an escaped space stays
    assert filters.join(["name:'x or y'", "c:3"]) == "name:'x or y' c:3"
    assert filters.join(["", "  "]) == ""
    types = filter_types(CONTACT_FIELDS)
    assert filters.parse(["name:a\\ ", "tag:b"], types) == filters.parse(
        [filters.join(["name:a\\ ", "tag:b"])], types
    )


def test_where_for_scopes_spent_and_checks_email_status():
    where, params = where_for(["spent>5"], "contacts")
    assert "c.spend_currency" in where and params == [500, "EUR"]
    with pytest.raises(InvalidInput, match="email_status"):
        where_for(["email_status:nope"], "contacts")
