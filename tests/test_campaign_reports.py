"""Campaign results (crm report campaign / campaigns) and the campaign alerts, checked
against figures worked out by hand from a small fixed campaign."""

from __future__ import annotations

import csv
import io
import json

import pytest


@pytest.fixture
def sent(crm, isolated):
    """12 recipients sent at CRM_NOW (2026-03-10 08:00 UTC) into an outbox."""
    (isolated / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n[campaign]\nfrom = "news@shop.example"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n',
        encoding="utf-8",
    )
    for i in range(12):
        crm("contact", "add", f"P{i}", "--email", f"p{i}@example.com", "--tag", "r")
    crm("segment", "add", "r", "tag:r")
    tpl = isolated / "t.txt"
    tpl.write_text("Hi {{ name }}\n", encoding="utf-8")
    crm("campaign", "add", "spring", "--segment", "r", "--subject", "s", "--template", str(tpl))
    crm("campaign", "send", "spring", "--outbox", str(isolated / "out"))
    return _recipients()


def _recipients() -> dict[str, dict]:
    from crm_cli.storage import open_db

    db = open_db()
    rows = db.conn.execute(
        "SELECT r.id, r.email, r.token, r.message_id, r.contact_id FROM campaign_recipients r"
    ).fetchall()
    db.close()
    return {email: {"id": i, "token": t, "mid": m, "contact": c} for i, email, t, m, c in rows}


def _mail(recipient: dict, kind: str, direction: str = "in", n: int = 0) -> None:
    """Record an imported message matched to a campaign message (what crm import mail does)."""
    from crm_cli.storage import open_db, transaction

    db = open_db()
    db.actor = "tester"
    with transaction(db, "test mail") as tx:
        tx.insert("mail_messages", {
            "message_id": f"<{kind}{n}.{recipient['id']}@test>", "thread_key": recipient["mid"],
            "in_reply_to": recipient["mid"], "refs": recipient["mid"], "kind": kind,
            "direction": direction, "from_addr": "x@example.com", "subject": "re",
            "sent_at": tx.at, "activity_id": None, "recipient_id": recipient["id"],
            "created_at": tx.at,
        })  # fmt: skip
    db.close()


def _metrics(crm, *args) -> dict[str, dict]:
    rows = crm.json("report", "campaign", "spring", *args)["rows"]
    return {r["metric"]: r for r in rows}


def test_results_match_hand_counts(crm, sent):
    r = sent
    _mail(r["p0@example.com"], "bounce")
    _mail(r["p1@example.com"], "bounce")
    _mail(r["p2@example.com"], "complaint")
    _mail(r["p3@example.com"], "message")
    _mail(r["p3@example.com"], "message", n=1)  # two replies: one replier
    _mail(r["p4@example.com"], "message")
    _mail(r["p5@example.com"], "auto_reply")
    _mail(r["p6@example.com"], "message", direction="out")  # our own follow-up: no reply
    crm("campaign", "unsubscribe", r["p7@example.com"]["token"])
    crm("order", "add", "-c", "p8@example.com", "--number", "A1", "-l", "X:1:100", "-d",
        "2026-03-12")  # fmt: skip
    crm("order", "add", "-c", "p9@example.com", "--number", "A2", "-l", "X:2:20", "-d",
        "2026-04-25")  # fmt: skip
    crm(
        "order",
        "add",
        "-c",
        "p10@example.com",
        "--number",
        "A0",
        "-l",
        "X:1:70",
        "-d",
        "2026-03-01",
    )  # fmt: skip  (before the campaign: not a conversion)
    deal = crm(
        "deal", "add", "Big one", "--contact", "p11@example.com", "--amount", "500 USD"
    ).stdout
    crm("deal", "won", deal.strip())
    m = _metrics(crm)
    assert (m["planned"]["count"], m["sent"]["count"], m["sent"]["pct"]) == (12, 12, 100.0)
    assert (m["bounced"]["count"], m["bounced"]["pct"]) == (2, 16.7)
    assert (m["complained"]["count"], m["complained"]["pct"]) == (1, 8.3)
    assert (m["replied"]["count"], m["auto-replied"]["count"]) == (2, 1)
    assert m["opted out"]["count"] == 1
    assert (m["converted"]["count"], m["orders"]["count"], m["won deals"]["count"]) == (2, 1, 1)
    assert m["revenue"]["amount"] == {"EUR": "100.00", "USD": "500.00"}
    # A longer window takes in the April order too.
    wide = _metrics(crm, "--window", "8w")
    assert wide["converted"]["count"] == 3
    assert wide["revenue"]["amount"] == {"EUR": "140.00", "USD": "500.00"}
    table = crm("report", "campaign", "spring").stdout
    assert "bounced" in table and "16.7" in table and "500 USD" in table
    rows = list(csv.DictReader(io.StringIO(crm("report", "campaign", "spring", "--csv").stdout)))
    assert {r["metric"]: r["count"] for r in rows}["replied"] == "2"
    # Side by side.
    side = crm.json("report", "campaigns")["rows"]
    assert side[0]["campaign"] == "spring"
    assert (side[0]["bounce_rate"], side[0]["reply_rate"], side[0]["conversion_rate"]) == (
        16.7,
        16.7,
        16.7,
    )


def test_ad_campaign_cost_ctr_and_cost_per_conversion(crm, sent):
    from crm_cli.storage import open_db, transaction

    crm("campaign", "add", "banner", "--channel", "ad")
    db = open_db()
    db.actor = "tester"
    cid = db.conn.execute("SELECT id FROM campaigns WHERE name = 'banner'").fetchone()[0]
    with transaction(db, "stats") as tx:
        for day, cost, imp, clicks, conv in (("2026-03-01", 12000, 40000, 600, 9),
                                             ("2026-03-02", 8000, 20000, 300, 6)):  # fmt: skip
            tx.insert("campaign_stats", {
                "campaign_id": cid, "day": day, "cost_minor": cost, "currency": "EUR",
                "impressions": imp, "clicks": clicks, "conversions": conv, "created_at": tx.at,
            })  # fmt: skip
    db.close()
    rows = {r["metric"]: r for r in crm.json("report", "campaign", "banner")["rows"]}
    assert rows["cost"]["amount"] == {"EUR": "200.00"}
    assert (rows["impressions"]["count"], rows["clicks"]["count"], rows["clicks"]["pct"]) == (
        60000,
        900,
        1.5,
    )
    assert (rows["conversions (reported)"]["count"], rows["conversions (reported)"]["pct"]) == (
        15,
        1.7,
    )
    assert rows["cost per conversion"]["amount"] == {"EUR": "13.33"}
    side = {r["campaign"]: r for r in crm.json("report", "campaigns")["rows"]}
    assert side["banner"]["ctr"] == 1.5 and side["banner"]["cost"] == {"EUR": "200.00"}


def test_campaign_alerts(crm, sent):
    r = sent
    for e in ("p0", "p1"):
        _mail(r[f"{e}@example.com"], "bounce")
    _mail(r["p2@example.com"], "complaint")
    result = crm("alerts", "--json", ok=False)
    assert result.exit_code == 10
    found = {a["kind"]: a for a in json.loads(result.stdout)}
    assert found["campaign-bounces"]["text"] == "spring"
    assert "2 of 12 sent (16.7%, limit 5%)" in found["campaign-bounces"]["detail"]
    assert "1 of 12 sent (8.3%, limit 0.3%)" in found["campaign-complaints"]["detail"]
    again = crm("alerts", "--json", ok=False)
    assert again.exit_code == 0 and json.loads(again.stdout) == []


def test_report_errors(crm, sent):
    crm.fails("report", "campaign", "nope", code=3)
    crm.fails("report", "campaign", "spring", "--window", "soon", code=1)


def test_import_campaign_stats_from_ad_exports(crm, isolated):
    crm("campaign", "add", "banner", "--channel", "ad")
    google = isolated / "google.csv"
    google.write_text(
        "Day,Campaign,Currency code,Cost,Impr.,Clicks,Conversions\n"
        '2026-03-01,Spring,EUR,"1,200.00","40,000",600,9.0\n'
        "2026-03-02,Spring,EUR,80.00,20000,300,6\n"
        "2026-03-03,Spring,EUR,lots,1,1,1\n",
        encoding="utf-8",
    )
    rejects = isolated / "rejects.csv"
    first = crm("import", "campaign-stats", str(google), "--campaign", "banner", "--json",
                "--rejects", str(rejects), ok=False)  # fmt: skip
    assert first.exit_code == 11  # one bad row, the rest imported
    assert json.loads(first.stdout)["created"] == 2
    assert "cannot read 'lots' as an amount" in rejects.read_text()
    # The same file again changes nothing; a restated day is updated.
    again = json.loads(crm("import", "campaign-stats", str(google), "--campaign", "banner",
                           "--json", "--rejects", str(rejects), ok=False).stdout)  # fmt: skip
    assert (again["created"], again["unchanged"]) == (0, 2)
    meta = isolated / "meta.csv"
    meta.write_text(
        "Reporting starts,Ad set name,Amount spent (EUR),Impressions,Link clicks,Results\n"
        "2026-03-02,,80.00,20000,300,7\n"
        "2026-03-04,Lookalike,20.5,1000,10,0\n",
        encoding="utf-8",
    )
    res = crm.json("import", "campaign-stats", str(meta), "--campaign", "banner")
    assert (res["created"], res["updated"]) == (1, 1)
    rows = {r["metric"]: r for r in crm.json("report", "campaign", "banner")["rows"]}
    assert rows["cost"]["amount"] == {"EUR": "1300.50"}
    assert (rows["impressions"]["count"], rows["clicks"]["count"]) == (61000, 910)
    assert rows["conversions (reported)"]["count"] == 16
    assert rows["cost per conversion"]["amount"] == {"EUR": "81.28"}
    imports = crm.json("import", "list")
    crm("import", "revert", str(imports[0]["id"]))
    rows = {r["metric"]: r for r in crm.json("report", "campaign", "banner")["rows"]}
    assert rows["conversions (reported)"]["count"] == 15  # the restated day is as before
    crm.fails("import", "campaign-stats", str(meta), "--campaign", "nope", code=3)
