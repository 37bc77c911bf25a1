"""crm contact merge / crm org merge: everything moves to KEEP, one change set, undone exactly."""

from __future__ import annotations

import json

import pytest

from crm_cli.commands import contact as contact_cmds
from crm_cli.commands import org as org_cmds
from crm_cli.commands.merge import contact_merge_cmd, org_merge_cmd


def _wire(app, fn) -> None:
    """Register `merge` on a noun (until cli wiring lands, and harmless after it)."""
    if not any(c.name == "merge" for c in app.registered_commands):
        app.command("merge")(fn)


_wire(contact_cmds.app, contact_merge_cmd)
_wire(org_cmds.app, org_merge_cmd)


def add(crm, *args: str) -> str:
    return crm("contact", "add", *args).stdout.strip()


def show(crm, cid: str) -> dict:
    return crm.json("contact", "show", cid)


def sets(crm) -> list[dict]:
    return json.loads(crm("history", "--json", "--limit", "1000").stdout)


@pytest.fixture
def pair(crm):
    """Two records of the same person; the second has the deal, call, follow-up, ticket, order."""
    keep = add(crm, "Ana García", "-e", "ana@example.es", "-p", "+34600111222", "-t", "vip",
               "--org", "Acme", "--city", "Madrid", "--title", "CTO")  # fmt: skip
    other = add(crm, "Ana Garcia Lopez", "-e", "ana.garcia@work.com", "-e", "ana@example.es",
                "-p", "+34600333444", "-t", "lead", "-t", "vip", "--title", "CEO",
                "--birthday", "1985-04-02", "--field", "shoe=42", "--social", "x=@anag")  # fmt: skip
    crm("log", "call", "--contact", other, "--outcome", "left voicemail", "--at", "-2d")
    deal = crm("deal", "add", "Renovación", "--contact", other, "--amount", "100",
               "--currency", "EUR").stdout.strip()  # fmt: skip
    fu = crm("followup", "add", "Call back", "--due", "tomorrow", "--contact", other).stdout.strip()
    ticket = crm("ticket", "open", "No puedo entrar", "--contact", other).stdout.strip()
    crm("order", "add", "--contact", other, "--number", "A-1", "--line", "SKU1:2:19.99")
    return {"keep": keep, "other": other, "deal": deal, "followup": fu, "ticket": ticket}


def test_merge_moves_everything_to_keep(crm, pair):
    keep, other = pair["keep"], pair["other"]
    assert show(crm, keep)["activity_count"] == 0
    r = crm("contact", "merge", keep, other)
    assert r.stdout == f"{keep}\n"
    c = show(crm, keep)
    # KEEP's values kept; its empty fields filled; the rest noted, not lost.
    assert c["name"] == "Ana García" and c["title"] == "CTO" and c["city"] == "Madrid"
    assert c["birthday"] == "1985-04-02"
    assert c["custom"] == {"shoe": "42", "merged.name": "Ana Garcia Lopez", "merged.title": "CEO"}
    assert c["social"] == {"x": "@anag"}
    assert [(e["value"], e["primary"]) for e in c["emails"]] == [
        ("ana@example.es", True),
        ("ana.garcia@work.com", False),
    ]
    assert [(p["value"], p["primary"]) for p in c["phones"]] == [
        ("+34600111222", True),
        ("+34600333444", False),
    ]
    assert c["tags"] == ["lead", "vip"]
    # Summaries recomputed by storage.
    assert c["activity_count"] == 1 and c["last_activity_at"] is not None
    assert c["order_count"] == 1 and c["spend"] == "39.98" and c["spend_currency"] == "EUR"
    assert crm.json("deal", "show", pair["deal"])["contact_id"] == int(keep)
    assert crm.json("followup", "show", pair["followup"])["contact_id"] == int(keep)
    assert crm.json("ticket", "show", pair["ticket"])["contact_id"] == int(keep)
    assert [o["contact_id"] for o in crm.json("order", "list")] == [int(keep)]
    assert [a["kind"] for a in crm.json("timeline", keep)] == ["call"]
    crm.fails("contact", "show", other, code=3)
    # ana@example.es now selects one contact.
    assert show(crm, "ana@example.es")["id"] == int(keep)


def test_merge_is_one_change_set_and_undo_restores_both(crm, pair):
    keep, other = pair["keep"], pair["other"]
    before = {i: show(crm, i) for i in (keep, other)}
    timelines = {i: crm.json("timeline", i) for i in (keep, other)}
    n = len(sets(crm))
    crm("contact", "merge", keep, other)
    after = sets(crm)
    assert len(after) == n + 1
    merged = after[0]
    assert merged["label"] == f"contact merge {other} into {keep}"
    hist = crm.json("history", f"contact:{keep}")
    assert hist[0]["id"] == merged["id"]
    assert crm.json("history", f"contact:{other}")[0]["id"] == merged["id"]
    crm("undo")
    assert {i: show(crm, i) for i in (keep, other)} == before
    assert {i: crm.json("timeline", i) for i in (keep, other)} == timelines
    assert crm.json("deal", "show", pair["deal"])["contact_id"] == int(other)
    assert show(crm, "ana.garcia@work.com")["id"] == int(other)


def test_shared_meeting_keeps_one_participant(crm):
    a = add(crm, "Bob One", "-e", "bob@example.com")
    b = add(crm, "Bob Two", "-e", "bob@example.org")
    c = add(crm, "Carla", "-e", "carla@example.com")
    meeting = crm("log", "meeting", "Kick-off", "-c", a, "-c", b, "-c", c).stdout.strip()
    crm("log", "call", "-c", b)
    crm("contact", "merge", a, b)
    tl = crm.json("timeline", a)
    assert [x["kind"] for x in tl] == ["call", "meeting"]
    assert tl[1]["id"] == int(meeting)
    assert tl[1]["contact_ids"] == [int(a), int(c)]
    assert show(crm, a)["activity_count"] == 2
    assert show(crm, c)["activity_count"] == 1
    crm("undo")
    assert show(crm, a)["activity_count"] == 1 and show(crm, b)["activity_count"] == 2


def test_several_others_and_rules(crm):
    keep = add(crm, "Eva Ruiz", "--consent", "granted")
    o1 = add(crm, "Eva Ruiz Gil", "-e", "eva@example.es", "--street", "Calle Mayor 1",
             "--city", "Sevilla", "--postal-code", "41001", "--consent", "opted-out")  # fmt: skip
    o2 = add(crm, "Eva R.", "-e", "eva@example.es", "-e", "eva2@example.es", "--city", "Cádiz")
    crm("contact", "cadence", keep, "--every", "60d")
    crm("contact", "cadence", o2, "--every", "14d")
    crm("log", "meeting", "Both", "-c", o1, "-c", o2)
    c = crm.json("contact", "merge", keep, o1, o2)
    assert c["id"] == int(keep)
    # No address on KEEP: the first other's whole address; the second's differing city noted.
    assert (c["street"], c["city"], c["postal_code"]) == ("Calle Mayor 1", "Sevilla", "41001")
    assert c["custom"]["merged.city"] == "Cádiz"
    assert c["custom"]["merged.name"] == "Eva Ruiz Gil; Eva R."
    assert c["consent"] == "opted_out"  # a withdrawal survives the merge
    assert c["cadence_days"] == 14
    assert [e["value"] for e in c["emails"]] == ["eva@example.es", "eva2@example.es"]
    assert [e["primary"] for e in c["emails"]] == [True, False]
    assert c["activity_count"] == 1


def test_dry_run_writes_nothing(crm, pair):
    keep, other = pair["keep"], pair["other"]
    n = len(sets(crm))
    r = crm("contact", "merge", keep, other, "--dry-run")
    assert "deals" in r.stdout and "activity_participants" in r.stdout
    assert "nothing written" in r.stderr
    plan = crm.json("contact", "merge", keep, other, "--dry-run")
    moves = {(m["table"], m["column"]): (m["moved"], m["dropped"]) for m in plan["moves"]}
    assert moves[("emails", "contact_id")] == (1, 1)
    assert moves[("contact_tags", "contact_id")] == (1, 1)
    assert moves[("deals", "contact_id")] == (1, 0)
    assert moves[("orders", "contact_id")] == (1, 0)
    assert plan["fields"]["birthday"] == "1985-04-02" and plan["deleted"] == [int(other)]
    assert len(sets(crm)) == n
    assert show(crm, other)["id"] == int(other)


def test_errors_write_nothing(crm, pair):
    keep, other = pair["keep"], pair["other"]
    n = len(sets(crm))
    crm.fails("contact", "merge", keep, "999", code=3)
    crm.fails("contact", "merge", "nobody@example.com", other, code=3)
    r = crm.fails("contact", "merge", keep, keep, code=1)
    assert "merged into itself" in r.stderr
    crm.fails("contact", "merge", keep, other, other, code=1)
    crm.fails("contact", "merge", keep, "ana@example.es", code=1)  # held by both: ambiguous
    crm.fails("contact", "merge", keep, code=2)  # no OTHER: usage
    crm.fails("org", "merge", "Acme", "Nope Inc", code=3)
    assert len(sets(crm)) == n


def test_more_than_three_others_needs_yes(crm):
    ids = [add(crm, f"Dup {i}", "-e", f"dup{i}@example.com") for i in range(5)]
    r = crm.fails("contact", "merge", *ids, code=1)
    assert "--yes" in r.stderr
    assert crm("contact", "merge", *ids, "--yes").stdout.strip() == ids[0]
    assert len(show(crm, ids[0])["emails"]) == 5


def test_dupes_output_feeds_merge(crm):
    add(crm, "Luis Pérez", "-e", "luis@example.es", "-p", "+34611222333")
    add(crm, "Luis Perez", "-e", "LUIS@example.es")
    add(crm, "Marta Soler", "-e", "marta@example.com")
    groups = crm.json("contact", "dupes")
    assert len(groups) == 1
    keep, *others = map(str, groups[0]["ids"])
    crm("contact", "merge", keep, *others)
    assert crm.json("contact", "dupes") == []
    assert len(crm.json("contact", "list")) == 2


def test_external_ids_follow_the_merge(crm):
    from crm_cli.storage.db import open_db, transaction

    keep = add(crm, "Kim", "-e", "kim@example.com")
    other = add(crm, "Kim L", "-e", "kim@example.org")
    db = open_db()
    db.actor = "tester"
    with transaction(db, "link") as tx:
        ext = tx.insert("external_ids", {"system": "salesforce", "entity": "contacts",
                                         "external_id": "003XYZ", "record_id": int(other)})  # fmt: skip
    crm("contact", "merge", keep, other)
    row = db.conn.execute("SELECT record_id FROM external_ids WHERE id = ?", (ext,)).fetchone()
    assert row[0] == int(keep)
    db.close()


def test_org_merge_moves_people_deals_and_more(crm):
    crm("org", "add", "Acme SL", "--domain", "acme.es", "--tag", "partner")
    crm("org", "add", "ACME S.L.", "--phone", "+34911222333", "--tag", "partner", "--tag", "es",
        "--industry", "software", "--city", "Madrid")  # fmt: skip
    keep = str(crm.json("org", "show", "Acme SL")["id"])
    other = str(crm.json("org", "show", '"ACME S.L."')["id"])
    p1 = add(crm, "Ana", "--org", keep)
    p2 = add(crm, "Bea", "--org", other)
    deal = crm("deal", "add", "Licencias", "--org", other).stdout.strip()
    crm("log", "note", "Visited", "-c", p2, "--org", other)
    crm("followup", "add", "Send quote", "--due", "+2d", "--org", other)
    before = crm.json("org", "show", keep)
    o = crm.json("org", "merge", keep, other)
    assert o["id"] == int(keep) and o["people_count"] == 2
    assert o["domain"] == "acme.es" and o["industry"] == "software" and o["city"] == "Madrid"
    assert o["tags"] == ["es", "partner"]
    assert [p["value"] for p in o["phones"]] == ["+34911222333"]
    assert o["custom"] == {"merged.name": "ACME S.L."}
    assert {show(crm, p)["org_id"] for p in (p1, p2)} == {int(keep)}
    assert crm.json("deal", "show", deal)["org_id"] == int(keep)
    crm.fails("org", "show", other, code=3)
    crm("undo")
    assert crm.json("org", "show", keep) == before
    assert crm.json("deal", "show", deal)["org_id"] == int(other)
    assert show(crm, p2)["org_id"] == int(other)


def test_a_later_table_takes_part_through_its_foreign_key(crm):
    from crm_cli.domain import merge
    from crm_cli.storage.db import open_db, transaction

    keep = int(add(crm, "Kim", "-e", "kim@example.com"))
    other = int(add(crm, "Kim L", "-e", "kim@example.org"))
    db = open_db()
    db.actor = "tester"
    db.conn.execute(
        "CREATE TABLE lists (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " contact_id INTEGER NOT NULL REFERENCES contacts(id), UNIQUE (name, contact_id))"
    )
    with transaction(db, "lists") as tx:
        for name, cid in (("news", keep), ("news", other), ("promo", other)):
            tx.insert("lists", {"name": name, "contact_id": cid})
    plan = merge.merge_contacts(db, keep, [other])
    assert merge.Moved("lists", "contact_id", 1, 1) in plan.moves
    rows = db.conn.execute("SELECT name, contact_id FROM lists ORDER BY name").fetchall()
    assert rows == [("news", keep), ("promo", keep)]
    db.close()
