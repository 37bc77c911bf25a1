"""The convenience-store example, end to end (issue 10's acceptance test).

A chain of convenience stores has 200 loyalty customers and 16 weeks of their till
orders (2026-02-02 .. 2026-05-24, Europe/Madrid). On Monday 2026-03-30 (week 8) it runs
"Weekend promo" to the whole loyalty segment with a 10% hold-out: an email (crm's
outbox), a message on the till receipt of every later purchase, a letter (7 come back)
and a 10% coupon. The data is drawn from a fixed seed:

- every customer orders on a Saturday or Sunday with their own probability p (0.10 to
  0.55 a day) and on a weekday with 0.08;
- from week 8 everyone's weekend probability rises by 0.05 (spring: a trend the
  campaign did not cause) and, for recipients only, by a further EFFECT = 0.15 a day,
  so the planted effect is 0.15 x 16 weekend days = 2.4 weekend orders per customer
  in the 8 weeks after the start;
- a recipient uses their coupon on their first promoted weekend order with chance 1/2;
  one of those codes is used by a friend instead.

``crm report impact`` must recover 2.4 within its interval, which must exclude 0, while
the naive before/after change of the recipients (which includes the spring trend) is
larger. Counts of coupons redeemed and letters returned are exact; the sales target's
attainment is checked against a hand computation.
"""

from __future__ import annotations

import csv
import json
import os
import random
from datetime import date, timedelta

import pytest

WEEK0 = date(2026, 2, 2)  # a Monday
START = WEEK0 + timedelta(weeks=8)  # 2026-03-30, a Monday
END = WEEK0 + timedelta(weeks=16)  # 2026-05-25, exclusive
EFFECT = 0.15  # extra weekend orders a day for recipients after the start
TREND = 0.05  # extra weekend orders a day for everyone after the start
PLANTED = EFFECT * 16  # weekend orders per customer over the 8 weeks after
CUSTOMERS = 200
NAME = "Weekend promo"


def _at(monkeypatch, day: date, clock: str = "08:00") -> None:
    monkeypatch.setenv("CRM_NOW", f"{day.isoformat()}T{clock}:00+02:00")


def _write_csv(path, header, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Build the example once (it takes a few seconds) and share it read-only."""
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("store")
    cfg = tmp / "config"
    cfg.mkdir()
    (cfg / "config.toml").write_text('[time]\nzone = "Europe/Madrid"\n', encoding="utf-8")
    mp.setenv("CRM_DB", str(tmp / "crm.db"))
    mp.setenv("CRM_CONFIG_DIR", str(cfg))
    mp.setenv("CRM_USER", "tester")
    from tests.conftest import Crm

    crm = Crm()
    try:
        built = _build(crm, mp, tmp)
        built["env"] = {k: os.environ[k] for k in ("CRM_DB", "CRM_CONFIG_DIR", "CRM_NOW")}
        yield built
    finally:
        mp.undo()


@pytest.fixture
def shop(store, monkeypatch):
    """The built example, with this test's environment pointed at it (after conftest's
    ``isolated`` pointed it at an empty database)."""
    for k, v in store["env"].items():
        monkeypatch.setenv(k, v)
    return store


def _build(crm, mp, tmp) -> dict:
    rng = random.Random(1)
    _at(mp, WEEK0 - timedelta(days=7))
    people = [
        (f"Customer {i:03d}", f"c{i:03d}@example.com", f"{i} Calle Mayor", "Madrid",
         f"280{i % 50:02d}", "loyalty")
        for i in range(CUSTOMERS)
    ]  # fmt: skip
    crm("import", "contacts", _write_csv(tmp / "customers.csv",
        ["Name", "Email", "Street", "City", "Postal Code", "Tags"], people))  # fmt: skip
    crm("segment", "add", "loyalty", "tag:loyalty")
    crm("config", "set", "campaign.from", "promo@store.example")
    crm("config", "set", "campaign.unsubscribe_url", "https://store.example/u/{token}")
    (tmp / "promo.txt").write_text("Hi {{ first_name | default('there') }}, weekends are on us.\n")
    crm("campaign", "add", NAME, "--segment", "loyalty", "--subject", "Your weekend treat",
        "--template", str(tmp / "promo.txt"), "--holdout", "10%", "--seed", "store-2026")  # fmt: skip

    # Week 8, Monday: the email goes out, coupons are issued, letters are printed.
    _at(mp, START)
    crm("campaign", "send", NAME, "--outbox", str(tmp / "outbox"))
    crm("coupon", "issue", NAME, "--segment", "loyalty", "--prefix", "WKND", "--discount", "10%")
    codes = {c["email"]: c["code"] for c in crm.json("coupon", "list", NAME)}
    holdout = {r["email"] for r in crm.json("campaign", "audience", NAME, "--holdout")}
    targets = {r["email"] for r in crm.json("campaign", "audience", NAME)}

    # Sixteen weeks of orders, receipts printed for recipients after the start.
    orders, receipts, redeemed, used_by_friend = [], [], set(), None
    friend = next(e for _, e, *_ in people if e in holdout)
    n = 0
    for _, email, *_ in people:
        p = rng.uniform(0.10, 0.55)
        coupon_left = email in codes and rng.random() < 0.5
        day = WEEK0
        while day < END:
            weekend = day.weekday() >= 5
            prob = p if weekend else 0.08
            if weekend and day >= START:
                prob += TREND + (EFFECT if email in targets else 0)
            if rng.random() < prob:
                n += 1
                code, buyer = "", email
                if coupon_left and weekend and day >= START:
                    code, coupon_left = codes[email], False
                    redeemed.add(code)
                    if used_by_friend is None:  # the first one goes to a friend's basket
                        used_by_friend, buyer = code, friend
                total = f"{rng.randint(300, 4000) / 100:.2f}"
                orders.append((f"T{n:05d}", buyer, day.isoformat(), "paid", "EUR", total, code,
                               "Basket", 1, total))  # fmt: skip
                if email in targets and day >= START:
                    receipts.append((email, "receipt", f"{day.isoformat()} 11:00", "delivered", 1))
            day += timedelta(days=1)
    # The catering side of the business has a quarterly sales target.
    crm("user", "add", "ana")
    for title, amount, day in (("Office catering", "8000", date(2026, 4, 10)),
                               ("School lunches", "4500", date(2026, 5, 15))):  # fmt: skip
        _at(mp, day, "12:00")
        deal = crm("deal", "add", title, "--amount", amount, "--owner", "ana").stdout.strip()
        crm("deal", "won", deal)
    _at(mp, END + timedelta(days=7))  # 2026-06-01: everything is in the past
    crm("deal", "add", "Summer camp", "--amount", "6000", "--owner", "ana", "--stage",
        "proposal", "--close", "2026-06-20")  # fmt: skip
    crm("target", "set", "--owner", "ana", "--period", "2026-Q2", "--amount", "20000")
    crm("import", "orders", _write_csv(tmp / "orders.csv",
        ["Number", "Contact", "Date", "Status", "Currency", "Total", "Coupon", "Description",
         "Quantity", "Unit Price"], orders),
        "--rejects", str(tmp / "orders.rejects.csv"))  # fmt: skip
    returned = sorted(targets)[::26][:7]
    letters = [(e, "letter", (START + timedelta(days=2)).isoformat(),
                "returned" if e in returned else "delivered", 1) for e in sorted(targets)]  # fmt: skip
    for name, rows in (("receipts", receipts), ("letters", letters)):
        crm("import", "deliveries", _write_csv(tmp / f"{name}.csv",
            ["Contact", "Channel", "At", "Status", "Count"], rows), "--campaign", NAME,
            "--rejects", str(tmp / f"{name}.rejects.csv"))  # fmt: skip
    return {"crm": crm, "tmp": tmp, "holdout": holdout, "targets": targets,
            "redeemed": redeemed, "returned": returned, "receipts": receipts,
            "orders": orders, "friend_code": used_by_friend}  # fmt: skip


def _rows(report: dict) -> dict[str, dict]:
    return {r.get("metric") or r.get("group"): r for r in report["rows"]}


def test_the_holdout_is_ten_percent_reproducible_and_never_reached(shop):
    crm, holdout, targets = shop["crm"], shop["holdout"], shop["targets"]
    assert len(holdout) == 20 and len(targets) == 180 and not holdout & targets
    c = crm.json("campaign", "show", NAME)
    assert c["holdout_pct"] == 10.0 and c["holdout_seed"] == "store-2026" and c["holdout_at"]
    # Reproducible: the same seed over the same members draws the same people.
    from crm_cli.domain import holdout as draw

    ids = {r["emails"][0]["value"]: r["id"] for r in crm.json("contact", "list", "--limit", "1000")}
    assert {ids[e] for e in holdout} == draw.draw("store-2026", 10, sorted(ids.values()))
    # No channel reached them: no email, no coupon, no receipt, no letter.
    outbox = shop["tmp"] / "outbox"
    to = {f.read_text().split("\nTo: ", 1)[1].split("\n")[0] for f in outbox.glob("*.eml")}
    assert len(to) == 180 and not any(e in t for t in to for e in holdout)
    assert not {c["email"] for c in crm.json("coupon", "list", NAME)} & holdout
    assert not {d["email"] for d in crm.json("campaign", "deliveries", NAME)} & holdout
    report = _rows(crm.json("report", "campaign", NAME))
    assert report["skipped: holdout"]["count"] == 20
    assert report["hold-out"]["count"] == 20
    assert "hold-out reached anyway" not in report


def test_impact_recovers_the_planted_effect(shop):
    crm = shop["crm"]
    out = crm.json("report", "impact", NAME, "--metric", "orders", "--window", "8w",
                   "--weekday", "sat,sun")  # fmt: skip
    rows = _rows(out)
    recipients, control = rows["target group"], rows["control: hold-out (10%)"]
    did = rows["difference in differences"]
    assert recipients["customers"] == 180 and control["customers"] == 20
    assert did["low"] <= PLANTED <= did["high"], did
    assert did["low"] > 0, "the interval should exclude no effect"
    assert did["interval"].startswith("bootstrap")
    # The naive before/after of the recipients also counts the spring trend.
    assert recipients["change"] > did["change"]
    assert recipients["responded"] > control["responded"]
    # Reproducible: the same data gives the same interval.
    again = _rows(crm.json("report", "impact", NAME, "--weekday", "sat,sun"))
    assert again["difference in differences"] == did
    # The figures by hand, from the generated orders.
    by_hand = _hand_means(shop)
    assert recipients["before"] == pytest.approx(by_hand["t_before"], abs=1e-4)
    assert recipients["after"] == pytest.approx(by_hand["t_after"], abs=1e-4)
    assert control["before"] == pytest.approx(by_hand["c_before"], abs=1e-4)
    assert did["change"] == pytest.approx(by_hand["did"], abs=1e-3)
    print(f"planted {PLANTED:.2f}, recovered {did['change']:.2f} "
          f"({did['low']:.2f} to {did['high']:.2f})")  # fmt: skip


def _hand_means(shop) -> dict[str, float]:
    counts: dict[str, list[int]] = {}  # weekend orders before / after, by who placed them
    for _, buyer, day, *_rest in shop["orders"]:
        d = date.fromisoformat(day)
        if d.weekday() < 5:
            continue
        counts.setdefault(buyer, [0, 0])[d >= START] += 1
    t = [counts.get(e, [0, 0]) for e in shop["targets"]]
    c = [counts.get(e, [0, 0]) for e in shop["holdout"]]

    def mean(xs):
        return sum(xs) / len(xs)

    out = {"t_before": mean([x[0] for x in t]), "t_after": mean([x[1] for x in t]),
           "c_before": mean([x[0] for x in c]), "c_after": mean([x[1] for x in c])}  # fmt: skip
    out["did"] = (out["t_after"] - out["t_before"]) - (out["c_after"] - out["c_before"])
    return out


def test_matched_control_when_asked(shop):
    rows = _rows(shop["crm"].json("report", "impact", NAME, "--weekday", "weekend",
                                   "--control", "matched"))  # fmt: skip
    did = rows["difference in differences"]
    # Everyone is in the segment: the only non-recipients are the 20 held out.
    # Twenty are too few to fill RFM cells: the report says it compares with all of them.
    assert rows["control: all non-recipients"]["customers"] == 20
    assert did["interval"] == "bootstrap, 2000 resamples"
    assert did["low"] <= PLANTED <= did["high"], did


def test_campaign_report_counts_are_exact(shop):
    crm = shop["crm"]
    rows = _rows(crm.json("report", "campaign", NAME))
    assert rows["coupons issued"]["count"] == 180
    assert rows["coupons redeemed"]["count"] == len(shop["redeemed"])
    assert rows["coupons used by someone else"]["count"] == 1
    assert rows["letter: returned"]["count"] == 7
    assert rows["letter: reached"]["count"] == 173
    assert rows["email: reached"]["count"] == 180
    receipt_people = {e for e, *_ in shop["receipts"]}
    assert rows["receipt: reached"]["count"] == len(receipt_people)
    assert rows["receipt: reached"]["note"].startswith(f"{len(shop['receipts'])} times on 56 days")
    assert rows["reached, any channel"]["count"] == 180
    returned = crm.json("campaign", "deliveries", NAME, "--channel", "letter",
                        "--status", "returned")  # fmt: skip
    assert sorted(d["email"] for d in returned) == shop["returned"]


def test_target_attainment_matches_the_hand_figures(shop):
    """Q2 2026 has 91 days, 61 of them passed before 2026-06-01. ana won 8000 + 4500 =
    12500 EUR; Summer camp (6000 EUR, proposal 50%, closing 2026-06-20) weighs 3000."""
    (row,) = [r for r in shop["crm"].json("report", "targets", "--period", "2026-Q2")["rows"]
              if r["name"] == "ana"]  # fmt: skip
    assert (row["target"], row["won"], row["pipeline"], row["gap"]) == (
        "20000.00", "12500.00", "3000.00", "7500.00")  # fmt: skip
    assert row["attainment"] == 62.5  # 12500 / 20000
    assert row["projected"] == 77.5  # (12500 + 3000) / 20000
    assert row["elapsed"] == 67.0  # 61 / 91


def test_reports_print_as_table_csv_and_chart(shop):
    crm = shop["crm"]
    table = crm("report", "impact", NAME, "--weekday", "sat,sun", "--chart")
    assert "difference in differences" in table.stdout and "target group" in table.stdout
    assert (
        "note: the groups as the hold-out draw assigned them (seed store-2026), reached or"
        " not: 180 of the 180 in the target group were reached"
    ) in table.stderr
    lines = crm("report", "impact", NAME, "--csv").stdout.splitlines()
    assert lines[0] == "group,customers,before,after,change,low,high,responded"
    assert len(lines) == 4
    json.loads(crm("report", "campaign", NAME, "--json").stdout)


def test_impact_errors(shop):
    store_crm = shop["crm"]
    store_crm.fails("report", "impact", NAME, "--metric", "smiles", code=1)
    store_crm.fails("report", "impact", NAME, "--weekday", "caturday", code=1)
    store_crm.fails("report", "impact", NAME, "--window", "0", code=1)
    store_crm.fails("report", "impact", "nope", code=3)
