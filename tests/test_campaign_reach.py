"""Hold-outs, deliveries from channels outside crm, reach per channel, the service rows of
crm report campaign, and crm report impact on small hand-counted data.

The clock is conftest's (2026-03-10 09:00 Europe/Madrid, a Tuesday)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_cli.domain import holdout
from crm_cli.errors import InvalidInput


def _csv(path, header, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.fixture
def ten(crm, tmp_path):
    """P0..P9 tagged r with addresses; segment r; letter campaign 'spring' holding out 20%."""
    for i in range(10):
        crm("contact", "add", f"P{i}", "--email", f"p{i}@example.com", "--tag", "r",
            "--street", f"{i} Main St", "--city", "Town", "--phone", f"+3460000000{i}")  # fmt: skip
    crm("segment", "add", "r", "tag:r")
    crm("campaign", "add", "spring", "--segment", "r", "--channel", "letter",
        "--holdout", "20%", "--seed", "s1")  # fmt: skip
    return crm


def _held(crm) -> set[str]:
    return {r["email"] for r in crm.json("campaign", "audience", "spring", "--holdout")}


# ---------------------------------------------------------------- the hold-out


@pytest.mark.parametrize(("text", "pct"), [("10%", 10.0), ("10", 10.0), ("2.5 %", 2.5),
                                           ("0", None), ("none", None), (None, None)])  # fmt: skip
def test_parse_pct(text, pct):
    assert holdout.parse_pct(text) == pct


@pytest.mark.parametrize("text", ["ten", "-5%", "51%", "10.123%", "1e1"])
def test_parse_pct_refuses(text):
    with pytest.raises(InvalidInput):
        holdout.parse_pct(text)


@given(st.lists(st.integers(1, 10**6), unique=True, max_size=300), st.floats(0.5, 50))
def test_draw_is_exact_reproducible_and_a_subset(members, pct):
    got = holdout.draw("seed", pct, members)
    assert got <= set(members) and len(got) == round(len(members) * pct / 100)
    assert got == holdout.draw("seed", pct, list(reversed(members)))  # order does not matter


def test_holdout_is_drawn_once_recorded_and_skipped_everywhere(ten, tmp_path):
    crm = ten
    shown = crm.json("campaign", "show", "spring")
    assert (shown["holdout_pct"], shown["holdout_seed"], shown["holdout_at"]) == (20.0, "s1", None)
    preview = _held(crm)  # drawn now, by the audience list
    assert len(preview) == 2
    assert crm.json("campaign", "show", "spring")["holdout_at"] is not None
    # Membership changes after the draw do not move it.
    crm("contact", "add", "P10", "--email", "p10@example.com", "--tag", "r", "--street", "x",
        "--city", "Town")  # fmt: skip
    assert _held(crm) == preview
    out = tmp_path / "letters.csv"
    crm("campaign", "send", "spring", "--out", str(out))
    sent = {r["name"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert len(sent) == 9 and not {f"P{e[1]}" for e in preview} & sent
    st_ = crm.json("campaign", "status", "spring")
    assert st_["skipped_by_reason"] == {"holdout": 2}
    crm("coupon", "issue", "spring", "--segment", "r", "--prefix", "SP")
    assert len(crm.json("coupon", "list", "spring")) == 9
    target = {r["email"] for r in crm.json("campaign", "audience", "spring")}
    assert len(target) == 9 and not target & preview
    crm.fails("campaign", "edit", "spring", "--holdout", "5%", code=1)


def test_holdout_skips_call_lists_and_email(crm, tmp_path):
    for i in range(20):
        crm("contact", "add", f"Q{i}", "--email", f"q{i}@example.com", "--tag", "q",
            "--phone", f"+346100000{i:02d}")  # fmt: skip
    crm("segment", "add", "q", "tag:q")
    crm("campaign", "add", "calls", "--segment", "q", "--channel", "call", "--holdout", "10%")
    crm("campaign", "send", "calls")
    assert crm.json("campaign", "status", "calls")["skipped_by_reason"] == {"holdout": 2}
    assert len(crm.json("followup", "list", "--all")) == 18


def test_impact_compares_the_groups_as_assigned(ten, tmp_path):
    """Receipts reach only the three target-group members who shopped; the report still
    compares all eight of the target group with the two held out (intent to treat)."""
    crm = ten
    held = _held(crm)
    shoppers = sorted(e for e in (f"p{i}@example.com" for i in range(10)) if e not in held)[:3]
    rows = [(e, "receipt", "2026-03-07 10:00", "delivered", 1) for e in shoppers]
    crm("import", "deliveries", _csv(tmp_path / "d.csv", ["contact", "channel", "at", "status",
        "count"], rows), "--campaign", "spring")  # fmt: skip
    out = crm.json("report", "impact", "spring", "--window", "7d")
    got = {r["group"]: r for r in out["rows"]}
    assert got["target group"]["customers"] == 8
    assert got["control: hold-out (20%)"]["customers"] == 2
    assert any("3 of the 8 in the target group were reached" in n for n in out["notes"])
    assert got["difference in differences"]["low"] is None  # 2 held out: too few


def test_holdout_errors(crm, tmp_path):
    crm("contact", "add", "A", "--tag", "r")
    crm("segment", "add", "r", "tag:r")
    crm.fails("campaign", "add", "ads", "--channel", "ad", "--holdout", "10%", code=1)
    crm.fails("campaign", "add", "x", "--segment", "r", "--channel", "letter", "--holdout",
              "60%", code=1)  # fmt: skip
    crm("campaign", "add", "x", "--segment", "r", "--channel", "letter")
    crm.fails("campaign", "edit", "x", "--seed", "abc", code=1)  # a seed without a hold-out
    crm("campaign", "edit", "x", "--holdout", "10%", "--seed", "abc")
    assert crm.json("campaign", "show", "x")["holdout_seed"] == "abc"
    crm("campaign", "edit", "x", "--holdout", "0")
    assert crm.json("campaign", "show", "x")["holdout_pct"] is None
    crm.fails("campaign", "audience", "nope", code=3)
    crm.fails("campaign", "add", "y", "--segment", "r", "--channel", "letter", "--seed", "s",
              code=1)  # fmt: skip
    # Once anyone may have been reached, a hold-out can no longer be kept out.
    crm("campaign", "send", "x", "--out", str(tmp_path / "letters.csv"))
    r = crm.fails("campaign", "edit", "x", "--holdout", "10%", code=1)
    assert "has a send log already" in r.stderr
    r = crm.fails("campaign", "delete", "x", code=1)
    assert "has a send log; it stays as a record" in r.stderr


def test_campaign_from_set_by_config_reaches_the_send(crm, tmp_path):
    """campaign.from and campaign.unsubscribe_url are team settings: `crm config set`
    stores them in the database, and the send reads them from there."""
    crm("contact", "add", "A", "--email", "a@example.com", "--tag", "r")
    crm("segment", "add", "r", "tag:r")
    (tmp_path / "t.txt").write_text("Hello\n")
    crm("campaign", "add", "m", "--segment", "r", "--subject", "Hi", "--template",
        str(tmp_path / "t.txt"))  # fmt: skip
    crm.fails("campaign", "send", "m", "--outbox", str(tmp_path / "out"), code=1)
    crm("config", "set", "campaign.from", "Shop <news@shop.example>")
    crm("config", "set", "campaign.unsubscribe_url", "https://shop.example/u/{token}")
    crm("campaign", "send", "m", "--outbox", str(tmp_path / "out"))
    (eml,) = (tmp_path / "out").glob("*.eml")
    text = eml.read_text()
    assert "From: Shop <news@shop.example>" in text and "https://shop.example/u/" in text


# ---------------------------------------------------------------- deliveries


def test_import_deliveries_counts_rejects_and_is_idempotent(ten, tmp_path):
    crm = ten
    held = sorted(_held(crm))
    path = _csv(tmp_path / "d.csv", ["Contact", "Channel", "Date", "Status", "Count"], [
        ("p0@example.com", "till", "2026-03-07 10:00", "printed", "2"),
        ("p1@example.com", "post", "2026-03-05", "returned to sender", ""),
        ("3", "letter", "2026-03-05", "", ""),
        (held[0], "receipt", "2026-03-07", "delivered", "1"),
        ("nobody@example.com", "sms", "2026-03-06", "delivered", ""),
        ("p2@example.com", "sms", "2026-03-06", "returned", ""),
        ("p2@example.com", "fax", "2026-03-06", "", ""),
        ("p2@example.com", "sms", "2026-04-01", "", ""),
        ("p2@example.com", "sms", "2026-03-06", "", "0"),
        ("p4@example.com", "web", "2026-03-08 20:00", "visited private area", ""),
        ("99999999999999999999999", "sms", "2026-03-06", "", ""),
        ("p5@example.com", "sms", "2026-03-06", "", ""),
    ])  # fmt: skip
    crm("contact", "add", "Namesake", "--email", "p5@example.com")
    rejects = tmp_path / "rej.csv"
    r = crm("import", "deliveries", path, "--campaign", "spring", "--rejects", str(rejects),
            ok=False)  # fmt: skip
    assert r.exit_code == 11
    assert "5 created, 0 updated, 0 unchanged, 7 rejected" in r.stderr
    assert "warning: 1 member(s) of the hold-out of spring were reached" in r.stderr
    reasons = [row["reason"] for row in csv.DictReader(rejects.open(encoding="utf-8"))]
    assert reasons == [
        "no contact with email nobody@example.com; deliveries never create contacts",
        "only a letter is returned; a sms that failed is 'failed'",
        "channel 'fax' is not one of receipt, letter, sms, call, web, email",
        "delivery time '2026-04-01' is in the future",
        "count must be a whole number from 1 to 10000, not '0'",
        "no contact with id 99999999999999999999999; deliveries never create contacts",
        "email p5@example.com belongs to 2 contacts (6, 11): give the id",
    ]
    r = crm("import", "deliveries", path, "--campaign", "spring", "--rejects", str(rejects),
            ok=False)  # fmt: skip
    assert "0 created, 0 updated, 5 unchanged" in r.stderr
    rows = crm.json("campaign", "deliveries", "spring")
    assert sorted((d["email"], d["channel"], d["status"], d["count"]) for d in rows) == sorted([
        ("p1@example.com", "letter", "returned", 1), ("p2@example.com", "letter", "delivered", 1),
        ("p0@example.com", "receipt", "delivered", 2), (held[0], "receipt", "delivered", 1),
        ("p4@example.com", "web", "visited", 1),
    ])  # fmt: skip
    assert [d["at"] for d in rows] == sorted(d["at"] for d in rows)  # oldest first
    back = crm.json("campaign", "deliveries", "spring", "--channel", "post", "--status", "return")
    assert [d["email"] for d in back] == ["p1@example.com"]
    crm.fails("campaign", "deliveries", "spring", "--status", "lost", code=1)


def test_import_deliveries_ndjson_system_ids_dry_run_and_revert(ten, tmp_path):
    crm = ten
    cards = _csv(tmp_path / "cards.csv", ["Card", "Email"], [("L-7", "p7@example.com")])
    crm("import", "contacts", cards, "--system", "loyalty", "--map", "Card=external_id")
    nd = tmp_path / "d.ndjson"
    nd.write_text("\n".join(json.dumps(r) for r in [
        {"contact": "L-7", "channel": "receipt", "at": "2026-03-07T10:00:00+01:00"},
        {"email": "p8@example.com", "channel": "sms", "at": "2026-03-06"},
    ]) + "\n")  # fmt: skip
    r = crm("import", "deliveries", str(nd), "--campaign", "spring", "--dry-run", ok=False)
    assert r.exit_code == 11 and "would make 1 created" in r.stderr
    assert "no contact with reference 'L-7' (give --system to look it up)" in r.stderr
    assert crm.json("campaign", "show", "spring")["holdout_at"] is None  # a dry run draws nothing
    bad = tmp_path / "bad.csv"
    bad.write_text("contact,channel,at\nnobody@example.com,sms,2026-03-01\n")
    r = crm("import", "deliveries", str(bad), "--campaign", "spring", "--rejects",
            str(tmp_path / "bad.rej"), ok=False)  # fmt: skip
    assert r.exit_code == 1 and "changed nothing" in r.stderr
    assert crm.json("campaign", "show", "spring")["holdout_at"] is None  # nor a failed one
    assert crm.json("campaign", "deliveries", "spring") == []
    r = crm("import", "deliveries", str(nd), "--campaign", "spring", "--system", "loyalty",
            "--json")  # fmt: skip
    res = json.loads(r.stdout)
    assert res["created"] == 2 and res["deliveries"]["by_channel"] == {
        "receipt": {"delivered": 1}, "sms": {"delivered": 1}}  # fmt: skip
    assert {d["name"] for d in crm.json("campaign", "deliveries", "spring")} == {"P7", "P8"}
    crm("import", "revert", str(res["import_id"]))
    assert crm.json("campaign", "deliveries", "spring") == []
    crm.fails("import", "deliveries", str(nd), "--campaign", "nope", code=3)


# ---------------------------------------------------------------- the campaign report


def test_reach_and_service_rows(ten, tmp_path, monkeypatch):
    crm = ten
    held = _held(crm)
    reached = sorted(e for e in (f"p{i}@example.com" for i in range(10)) if e not in held)
    rows = [(reached[0], "receipt", "2026-03-07 10:00", "delivered", 2),
            (reached[0], "receipt", "2026-03-08 10:00", "delivered", 1),
            (reached[1], "receipt", "2026-03-07 11:00", "delivered", 1),
            (reached[2], "letter", "2026-03-02", "returned", 1),
            (reached[3], "letter", "2026-03-02", "delivered", 1),
            (reached[4], "email", "2026-03-03 09:00", "opened", 1),
            (reached[5], "sms", "2026-03-03 09:00", "failed", 1),
            (reached[4], "web", "2026-03-04 21:00", "visited", 1)]  # fmt: skip
    crm("import", "deliveries", _csv(tmp_path / "d.csv", ["contact", "channel", "at", "status",
        "count"], rows), "--campaign", "spring", "--rejects", str(tmp_path / "r.csv"))  # fmt: skip
    # Tickets: reached[0] a complaint and a question in the window, one resolved on
    # Saturday 2026-03-07 rated 2, one on Monday 2026-03-09 rated 5; an outsider's ticket.
    for subject, who, kind, day_open, day_close, score in (
        ("late", reached[0], "complaint", "2026-03-03", "2026-03-07", "2"),
        ("hours?", reached[0], "question", "2026-03-04", "2026-03-09", "5"),
        ("idea", reached[1], "suggestion", "2026-03-05", None, None),
        ("old", reached[1], "complaint", "2026-02-01", None, None),
        ("theirs", held and sorted(held)[0], "complaint", "2026-03-05", None, None),
    ):  # fmt: skip
        monkeypatch.setenv("CRM_NOW", f"{day_open}T10:00:00+01:00")
        tid = crm("ticket", "open", subject, "--contact", who, "--type", kind).stdout.strip()
        if day_close:
            monkeypatch.setenv("CRM_NOW", f"{day_close}T12:00:00+01:00")
            crm("ticket", "close", tid, "--satisfaction", score)
    monkeypatch.setenv("CRM_NOW", "2026-03-10T09:00:00+01:00")
    report = crm.json("report", "campaign", "spring")
    got = {r["metric"]: r for r in report["rows"]}
    assert got["reached, any channel"]["count"] == 4  # not by a returned letter or failed SMS
    assert got["receipt: reached"]["count"] == 2
    assert got["receipt: reached"]["times"] == 4
    assert got["receipt: reached"]["days"] == {"2026-03-07": 3, "2026-03-08": 1}
    assert got["receipt: reached"]["note"] == (
        "4 times on 2 days, 2026-03-07..2026-03-08; by weekday: Sat 3 · Sun 1"
    )
    assert (got["letter: returned"]["count"], got["letter: returned"]["pct"]) == (1, 50.0)
    assert got["email: opened"]["count"] == 1 and got["email: opened"]["pct"] == 100.0
    assert got["sms: failed"]["count"] == 1
    assert got["web: visited the private area"]["count"] == 1
    assert got["hold-out"]["count"] == 2
    assert got["tickets opened"]["count"] == 3  # in the window 2026-03-02 .. 2026-04-01
    assert {k: v["count"] for k, v in got.items() if k.startswith("tickets: ")} == {
        "tickets: complaint": 1,
        "tickets: question": 1,
        "tickets: suggestion": 1,
    }
    weekend = got["satisfaction, resolved on weekends"]
    weekday = got["satisfaction, resolved on weekdays"]
    assert weekend["count"] == 1 and weekend["note"].startswith("average 2.0 of 5")
    assert weekday["count"] == 1 and weekday["note"].startswith("average 5.0 of 5")
    lines = crm("report", "campaign", "spring", "--csv").stdout.splitlines()
    assert lines[0] == "metric,count,pct,amount,note"


# ---------------------------------------------------------------- impact on small data


@pytest.fixture
def shop(crm, tmp_path, monkeypatch):
    """Four customers reached on 2026-03-02 (a Monday; A, B by receipt, C, D by SMS), five
    not (E..I), no hold-out. Orders one a week before (Feb), A and B two a week after."""
    for n in "ABCDEFGHI":
        crm("contact", "add", n, "--email", f"{n.lower()}@example.com", "--tag", "s")
    crm("segment", "add", "s", "tag:s")
    crm("campaign", "add", "promo", "--segment", "s", "--channel", "letter")
    rows = [(f"{n.lower()}@example.com", "receipt" if n in "AB" else "sms",
             "2026-03-02 09:00", "delivered", 1) for n in "ABCD"]  # fmt: skip
    crm("import", "deliveries", _csv(tmp_path / "d.csv", ["contact", "channel", "at", "status",
        "count"], rows), "--campaign", "promo")  # fmt: skip
    orders, k = [], 0
    for n in "ABCDEFGHI":
        for day in ("2026-02-23", "2026-02-28"):  # Mon, Sat: before
            k += 1
            orders.append((f"O{k}", f"{n.lower()}@example.com", day, "10.00"))
        for day in ("2026-03-07", "2026-03-08") if n in "AB" else ("2026-03-03",):
            k += 1
            orders.append((f"O{k}", f"{n.lower()}@example.com", day, "10.00"))
    crm("import", "orders", _csv(tmp_path / "o.csv", ["number", "contact", "date", "total",
        "description", "quantity", "unit_price"], [(*o, "x", 1, o[3]) for o in orders]),
        "--rejects", str(tmp_path / "or.csv"))  # fmt: skip
    return crm


def test_impact_matched_on_hand_counts(shop):
    """Window 7 days: before 2026-02-23..03-01, after 03-02..03-08 (today is 03-10).
    Everyone had 2 orders before. After: A, B 2; C, D 1; E..I 1. All nine share one RFM
    cell: recipients 2 -> 1.5 (-0.5), control 2 -> 1 (-1), DiD +0.5."""
    out = shop.json("report", "impact", "promo", "--window", "7d")
    rows = {r["group"]: r for r in out["rows"]}
    t, c = rows["recipients"], rows["control: matched on RFM"]
    did = rows["difference in differences"]
    assert (t["customers"], t["before"], t["after"], t["change"]) == (4, 2.0, 1.5, -0.5)
    assert (c["customers"], c["before"], c["after"], c["change"]) == (5, 2.0, 1.0, -1.0)
    assert did["change"] == 0.5
    assert did["low"] is None and did["high"] is None  # 4 recipients: too few for an interval
    assert any("no interval: fewer than 5 customers in a group" in n for n in out["notes"])
    assert t["responded"] == 0.0  # nobody did more than before
    assert any(
        n.startswith(
            "control: 5 non-recipients in the recipients' RFM cells at 2026-03-02"
            " (4 of 4 recipients in a cell of their own"
        )
        for n in out["notes"]
    ), out["notes"]
    # Weekends only: before 1 each (Sat 02-28); after A, B 2 (Sat, Sun), others 0.
    rows = {r["group"]: r for r in shop.json("report", "impact", "promo", "--window", "1w",
                                             "--weekday", "weekend")["rows"]}  # fmt: skip
    assert rows["recipients"]["after"] == 1.0 and rows["recipients"]["responded"] == 50.0
    assert rows["control: matched on RFM"]["after"] == 0.0
    assert rows["difference in differences"]["change"] == 1.0
    # Revenue in EUR: the same as orders x 10.
    rows = {r["group"]: r for r in shop.json("report", "impact", "promo", "--window", "7",
                                             "--metric", "revenue")["rows"]}  # fmt: skip
    assert rows["difference in differences"]["change"] == 5.0


def test_impact_scales_a_running_after_window(shop):
    """--window 14d: the after window (03-02..03-15) has run 9 of 14 days: scaled by 14/9.
    With --weekday weekend it has run 2 of its 4 weekend days (03-07, 03-08): scaled by 2."""
    out = shop.json("report", "impact", "promo", "--window", "14d")
    rows = {r["group"]: r for r in out["rows"]}
    assert rows["recipients"]["after"] == pytest.approx(1.5 * 14 / 9, abs=1e-4)
    assert any("has run 9 of its 14 counted days" in n for n in out["notes"])
    out = shop.json("report", "impact", "promo", "--window", "14d", "--weekday", "weekend")
    rows = {r["group"]: r for r in out["rows"]}
    assert rows["recipients"]["after"] == 2.0  # A and B: 2 weekend orders each, x 2, / 4
    assert any("has run 2 of its 4 counted days" in n for n in out["notes"])


def test_impact_visits_and_errors(shop, tmp_path):
    crm = shop
    visits = _csv(tmp_path / "v.csv", ["email", "at", "landing_page"], [
        ("a@example.com", "2026-03-04 10:00", "/area"), ("e@example.com", "2026-02-25 10:00", "/"),
    ])  # fmt: skip
    crm("import", "visits", visits)
    rows = {r["group"]: r for r in crm.json("report", "impact", "promo", "--window", "7d",
                                            "--metric", "visits")["rows"]}  # fmt: skip
    assert rows["recipients"]["after"] == 0.25  # A's one visit over 4 recipients
    crm.fails("report", "impact", "promo", "--control", "holdout", code=1)
    crm.fails("report", "impact", "promo", "--control", "random", code=1)
    crm.fails("report", "impact", "promo", "--weekday", "sat,funday", code=1)
    crm.fails("report", "impact", "promo", "--window", "2x", code=1)
    crm.fails("report", "impact", "promo", "--from", "2026-04-01", code=1)
    crm.fails("report", "impact", "promo", "--from", "0001-01-05", code=1)
    crm.fails("report", "impact", "promo", "--json", "--chart", code=1)
    crm("campaign", "add", "silent", "--segment", "s", "--channel", "letter")
    r = crm.fails("report", "impact", "silent", code=1)
    assert "has reached nobody yet" in r.stderr
    csv_out = crm("report", "impact", "promo", "--csv").stdout
    assert list(csv.reader(io.StringIO(csv_out)))[0][0] == "group"
