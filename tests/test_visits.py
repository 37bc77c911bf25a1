"""crm import visits and crm report conversion: the e-commerce journey, hand-checked."""

from __future__ import annotations

import json

import pytest

CSV = """\
session,visitor,email,time,landing page,referrer,utm_source,utm_medium,utm_campaign,pages
s1,v1,,2026-02-01 10:00,https://shop.example/?utm_source=google,https://www.google.com/,google,cpc,spring,3
s2,v1,,2026-02-03 11:00,https://shop.example/pricing,,,,,2
s3,v1,ana@example.com,2026-02-05 12:00,https://shop.example/signup,,,,,5
s4,v2,,2026-02-06 09:00,https://shop.example/blog/tips,https://news.ycombinator.com/item?id=1,,,,1
s5,v3,bob@example.com,2026-02-07 09:00,https://shop.example/,https://www.google.com/search,,,,4
s6,v4,,2026-02-08 09:00,https://shop.example/blog/tips,,newsletter,email,feb,2
"""


def imported(crm, tmp_path, text, name="visits.csv", *extra, ok=True):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    r = crm("import", "visits", str(path), "--json", *extra, ok=ok)
    return json.loads(r.stdout)


def timeline(crm, who):
    return crm.json("timeline", who)


def test_visits_link_to_contacts_and_go_on_the_timeline(crm, tmp_path):
    crm("contact", "add", "Ana", "--email", "ana@example.com")
    res = imported(crm, tmp_path, CSV)
    assert (res["created"], res["rejected"]) == (6, 0)
    # v1's two anonymous visits are linked once v1 is seen with Ana's email: three visits.
    ana = timeline(crm, "ana@example.com")
    assert [(a["kind"], a["channel"], a["subject"]) for a in reversed(ana)] == [
        ("visit", "web", "https://shop.example/?utm_source=google"),
        ("visit", "web", "https://shop.example/pricing"),
        ("visit", "web", "https://shop.example/signup")]  # fmt: skip
    assert "campaign: google · cpc · spring" in ana[-1]["body"]
    # bob@example.com was unknown: the visitor identified themselves, a web lead.
    bob = crm.json("contact", "show", "bob@example.com")
    assert (bob["source"], bob["stage"]) == ("web", "lead")
    # The same file again creates nothing; a later file links v2 when it shows an email.
    res = imported(crm, tmp_path, CSV)
    assert (res["created"], res["unchanged"]) == (0, 6)
    later = "visitor_id,email,at,landing_page\nv2,cleo@example.com,2026-02-09 10:00,/account\n"
    imported(crm, tmp_path, later, "later.csv")
    cleo = timeline(crm, "cleo@example.com")
    assert [a["subject"] for a in reversed(cleo)] == ["https://shop.example/blog/tips", "/account"]


def test_ndjson_rejects_and_revert(crm, tmp_path):
    rows = [
        {"visitor_id": "x1", "at": "2026-02-01T10:00:00Z", "landing_page": "/a", "pages": 2},
        {"at": "2026-02-01T10:00:00Z", "landing_page": "/b"},  # neither email nor visitor
        {"visitor_id": "x2", "landing_page": "/c"},  # no time
        {"visitor_id": "x3", "at": "2099-01-01", "landing_page": "/d"},  # in the future
        {"email": "not-an-email", "at": "2026-02-01", "landing_page": "/e"},
        {"visitor_id": "x4", "at": "2026-02-01", "pages": -1},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    res = imported(
        crm, tmp_path, text, "v.ndjson", "--rejects", str(tmp_path / "rej.csv"), ok=False
    )
    assert (res["created"], res["rejected"]) == (1, 5)
    reasons = (tmp_path / "rej.csv").read_text(encoding="utf-8")
    for why in ("email or a visitor id", "its time", "in the future", "invalid email",
                "cannot be negative"):  # fmt: skip
        assert why in reasons, why
    crm("import", "revert", str(res["import_id"]))
    again = imported(crm, tmp_path, text, "v.ndjson", "--rejects", str(tmp_path / "rej2.csv"),
                     ok=False)  # fmt: skip
    assert again["created"] == 1  # back again


@pytest.fixture
def journey(crm, tmp_path):
    crm("contact", "add", "Ana", "--email", "ana@example.com")
    imported(crm, tmp_path, CSV)
    # Ana buys on Feb 10 (after her first visit on Feb 1) and Feb 20; Bob never buys.
    crm("order", "add", "-c", "ana@example.com", "--number", "A1", "--date", "2026-02-10",
        "--line", "X:1:100")  # fmt: skip
    crm("order", "add", "-c", "ana@example.com", "--number", "A2", "--date", "2026-02-20",
        "--line", "X:1:50")  # fmt: skip
    return crm


def test_conversion_by_landing_page(journey):
    r = json.loads(journey("report", "conversion", "--period", "2026-02", "--json").stdout)
    rows = {x["landing"]: x for x in r["rows"]}
    home = rows["shop.example/"]  # s1 (query dropped) and s5: Ana's first touch and Bob's
    assert (home["visits"], home["visitors"], home["new_contacts"], home["customers"]) == (
        2,
        2,
        2,
        1,
    )
    assert home["conversion"] == 50.0 and home["revenue"] == {"EUR": "150.00"}
    # Ana: first visit Feb 1, first order Feb 10 -> 9 days, after 3 visits.
    assert (home["days_to_order"], home["visits_to_order"]) == (9.0, 3.0)
    tips = rows["shop.example/blog/tips"]  # two anonymous visitors, nobody known
    assert (tips["visits"], tips["visitors"], tips["new_contacts"], tips["customers"]) == (
        2,
        2,
        0,
        0,
    )
    assert rows["shop.example/pricing"]["visits"] == 1
    assert list(rows)[0] == "shop.example/"  # the one that brings customers first


def test_conversion_by_source_and_filters(journey):
    r = json.loads(journey("report", "conversion", "--by", "source", "--period", "2026-02",
                           "--json").stdout)  # fmt: skip
    rows = {x["source"]: x for x in r["rows"]}
    assert rows["google"]["customers"] == 1  # Ana's first visit: utm_source google
    assert rows["google.com"]["new_contacts"] == 1  # Bob: the referrer's host
    assert rows["news.ycombinator.com"]["visits"] == 1
    assert rows["newsletter"]["visits"] == 1 and rows["(direct)"]["visits"] == 2
    r = json.loads(journey("report", "conversion", "campaign:spring", "--period", "2026-02",
                           "--json").stdout)  # fmt: skip
    assert [x["landing"] for x in r["rows"]] == ["shop.example/"]
    assert journey.fails("report", "conversion", "colour:red").stderr


def test_merging_contacts_keeps_their_visits(crm, tmp_path):
    text = ("visitor_id,email,at,landing_page\nv1,ana@example.com,2026-01-01 10:00,/a\n"
            "v2,ana.g@example.com,2026-01-02 10:00,/b\n")  # fmt: skip
    imported(crm, tmp_path, text)
    ids = sorted(c["id"] for c in crm.json("contact", "list"))
    crm("contact", "merge", str(ids[0]), str(ids[1]), "--yes")
    assert [a["subject"] for a in timeline(crm, str(ids[0]))] == ["/b", "/a"]
    later = "visitor_id,at,landing_page\nv2,2026-01-03 10:00,/c\n"  # v2 now belongs to Ana
    imported(crm, tmp_path, later, "later.csv")
    assert [a["subject"] for a in timeline(crm, str(ids[0]))][0] == "/c"
