"""The foundation issue's acceptance examples, run exactly as written."""

from __future__ import annotations

import csv
import io


def test_acceptance_examples(crm):
    ana = crm("contact", "add", "Ana García", "--email", "ANA@Example.es", "--phone", "+34 600 123 456",
              "--tag", "vip", "--org", "Acme SL")  # fmt: skip
    assert ana.stdout.strip().isdigit()
    bob = crm("contact", "add", "Bob Stone", "--email", "bob@example.com", "--stage", "customer")
    assert bob.stdout.strip().isdigit()

    vip = crm.json("contact", "list", "tag:vip")
    assert isinstance(vip, list) and len(vip) == 1
    rec = vip[0]
    for key in ("id", "name", "first_name", "last_name", "emails", "phones", "tags", "org_id",
                "stage", "owner", "created_at", "updated_at"):  # fmt: skip
        assert key in rec
    assert (
        rec["name"] == "Ana García" and rec["first_name"] == "Ana" and rec["last_name"] == "García"
    )
    assert rec["emails"] == [
        {"value": "ana@example.es", "label": None, "primary": True, "status": "ok"}
    ]
    assert (
        rec["phones"][0]["value"] == "+34600123456" and rec["phones"][0]["raw"] == "+34 600 123 456"
    )
    assert rec["tags"] == ["vip"] and rec["org"] == "Acme SL" and rec["owner"] == "tester"
    assert rec["created_at"] == "2026-03-10T08:00:00Z"

    out = crm("contact", "list", "name~garc or stage:customer", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["name"] for r in rows} == {"Ana García", "Bob Stone"}
    assert rows[0]["emails"] == "ana@example.es" and rows[0]["phones"] == "+34600123456"

    shown = crm.json("contact", "show", "ana@example.es")
    assert isinstance(shown, dict) and shown["id"] == rec["id"]
    assert crm.json("contact", "show", ana.stdout.strip())["id"] == rec["id"]
    assert crm.json("contact", "show", "ana garcía")["id"] == rec["id"]

    crm("contact", "edit", "ana@example.es", "--stage", "prospect")
    assert crm.json("contact", "show", "ana@example.es")["stage"] == "prospect"

    bad = crm.fails("contact", "add", "Bad", "--email", "not-an-email", code=1)
    assert "not-an-email" in bad.stderr
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana García", "Bob Stone"]

    err = crm.fails("contact", "list", "nosuchfield:1", code=1)
    assert "nosuchfield" in err.stderr and "name" in err.stderr and "tag" in err.stderr

    undo = crm("undo")
    assert "contact edit" in undo.stdout
    assert crm.json("contact", "show", "ana@example.es")["stage"] == "lead"

    history = crm.json("history")
    assert history[0]["label"].startswith("undo") and history[0]["actor"] == "tester"
    assert any(c["table_name"] == "contacts" for c in history[0]["changes"])

    org = crm.json("org", "show", "Acme SL")
    assert org["name"] == "Acme SL" and [p["name"] for p in org["people"]] == ["Ana García"]

    found = crm("search", "garcía").stdout
    assert "Ana García" in found
    assert crm.json("search", "garcia")[0]["name"] == "Ana García"

    assert crm.json("contact", "list", "!tag:vip", "name~garcia") == []
