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


ISSUE4 = r"""
crm contact add "Ana García" --email ana@example.es --org "Acme SL"
id=$(crm deal add "Renovación licencias" --org "Acme SL" --contact ana@example.es --amount 12000.50 --currency EUR --close "in 3 weeks")   # prints the id (1 on this fresh database)
echo "deal-id=$id"
crm deal move $id proposal
crm deal list stage:proposal --json > "$OUT/deals.json"
crm deal lost $id --reason "price"            # then: crm deal move $id negotiation -> error, the deal is closed
crm deal move $id negotiation; echo "move-closed=$?"
crm log call --contact ana@example.es --duration 15m --outcome "left voicemail" --at "yesterday 16:00"
crm timeline ana@example.es --json > "$OUT/timeline.json"
crm followup add "Llamar a Ana" --due "tomorrow 9am" --contact ana@example.es
crm followup add "Informe mensual" --due "2026-12-01 10:00" --every monthly
crm followup add "x" --due "the day after the blue moon" 2> "$OUT/blue.err"; echo "blue-moon=$?"
crm followup add "Vencida" --due "2020-01-01 09:00" --contact ana@example.es
crm remind --json > "$OUT/remind1.json"; echo "remind1=$?"
crm remind --json > "$OUT/remind2.json"; echo "remind2=$?"
crm ticket open "No puedo acceder" --contact ana@example.es --priority high
crm order add --contact ana@example.es --number A-1001 --date 2026-11-01 --line "SKU1:2:19.99"
"""


def test_issue4_acceptance_examples_as_written(tmp_path):
    """The operational issue's acceptance commands, run by a real shell on a fresh database."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["OUT"] = str(tmp_path)
    r = subprocess.run(["bash", "-c", ISSUE4], env=env, capture_output=True, text=True, timeout=120)
    out = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    assert out[0] == "1" and "deal-id=1" in out  # contact 1, deal 1
    assert "move-closed=1" in out and "deal 1 is lost" in r.stderr
    deals = json.loads((tmp_path / "deals.json").read_text())
    assert len(deals) == 1
    for key in ("id", "title", "amount", "amount_minor", "currency", "stage", "status", "owner",
                "expected_close_date"):  # fmt: skip
        assert key in deals[0]
    assert deals[0]["amount"] == "12000.50" and deals[0]["amount_minor"] == 1200050
    timeline = json.loads((tmp_path / "timeline.json").read_text())
    assert timeline[0]["kind"] == "call" and timeline[0]["duration"] == "15m"
    for key in ("id", "kind", "occurred_at", "subject", "actor"):
        assert key in timeline[0]
    assert "blue-moon=1" in out
    assert "the day after the blue moon" in (tmp_path / "blue.err").read_text()
    assert "remind1=10" in out and "remind2=0" in out
    reported = json.loads((tmp_path / "remind1.json").read_text())
    assert [i["text"] for i in reported] == ["Vencida"]
    assert json.loads((tmp_path / "remind2.json").read_text()) == []
    assert out[-2:] == ["1", "1"]  # the ticket's and the order's ids
