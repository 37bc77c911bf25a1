"""Pipelines, stages and deals through the CLI: moves recorded, closed deals guarded."""

from __future__ import annotations

import pytest

from crm_cli.domain import deals
from crm_cli.domain.session import open_session


@pytest.fixture
def ana(crm):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--org", "Acme SL")
    return "ana@example.es"


def add_deal(crm, *args):
    return int(crm("deal", "add", *args).stdout.strip())


def test_default_pipeline_comes_with_the_first_write(crm):
    """A fresh database has no pipeline until its first write creates 'sales' (a read
    never writes); the first write's not-undoable set records it in the change log."""
    assert crm.json("pipeline", "list") == []
    err = crm.fails("pipeline", "show", code=3)
    assert "first change" in err.stderr and "'sales'" in err.stderr
    crm("contact", "add", "Ana")
    p = crm.json("pipeline", "show")
    assert p["name"] == "sales" and p["default"] is True
    assert [(s["name"], s["probability"]) for s in p["stages"]] == [
        ("lead", 10), ("qualified", 25), ("proposal", 50), ("negotiation", 75),
    ]  # fmt: skip


def test_deal_add_prints_id_and_fills_the_record(crm, ana):
    did = add_deal(crm, "Renovación licencias", "--org", "Acme SL", "--contact", ana,
                   "--amount", "12000.50", "--currency", "EUR", "--close", "in 3 weeks")  # fmt: skip
    assert did == 1
    d = crm.json("deal", "show", str(did))
    assert d["amount"] == "12000.50" and d["amount_minor"] == 1200050 and d["currency"] == "EUR"
    assert d["stage"] == "lead" and d["status"] == "open" and d["owner"] == "tester"
    assert d["org"] == "Acme SL" and d["contact"] == "Ana García"
    # CRM_NOW is 2026-03-10 (Madrid): three weeks later.
    assert d["expected_close_date"] == "2026-03-31"
    assert d["weighted_amount"] == "1200.05"
    assert [m["to_stage"] for m in d["moves"]] == ["lead"]


def test_contact_alone_brings_its_organization(crm, ana):
    did = add_deal(crm, "Soporte", "--contact", ana)
    assert crm.json("deal", "show", str(did))["org"] == "Acme SL"


def test_move_by_name_and_position_records_each_move(crm, ana, monkeypatch):
    did = add_deal(crm, "Licencias", "--contact", ana)
    monkeypatch.setenv("CRM_NOW", "2026-03-12T10:00:00+01:00")
    crm("deal", "move", str(did), "proposal")
    monkeypatch.setenv("CRM_NOW", "2026-03-20T10:00:00+01:00")
    crm("deal", "move", str(did), "2")
    d = crm.json("deal", "show", str(did))
    assert d["stage"] == "qualified" and d["stage_entered_at"] == "2026-03-20T09:00:00Z"
    moves = [(m["from_stage"], m["to_stage"], m["moved_at"], m["actor"]) for m in d["moves"]]
    assert moves == [
        (None, "lead", "2026-03-10T08:00:00Z", "tester"),
        ("lead", "proposal", "2026-03-12T09:00:00Z", "tester"),
        ("proposal", "qualified", "2026-03-20T09:00:00Z", "tester"),
    ]
    listed = crm.json("deal", "list", "stage:qualified")
    assert [x["id"] for x in listed] == [did]
    for key in ("id", "title", "amount", "amount_minor", "currency", "stage", "status", "owner",
                "expected_close_date"):  # fmt: skip
        assert key in listed[0]


def test_rename_keeps_history(crm, ana):
    did = add_deal(crm, "Licencias", "--contact", ana)
    crm("deal", "move", str(did), "proposal")
    crm("pipeline", "stage", "rename", "sales", "proposal", "propuesta")
    d = crm.json("deal", "show", str(did))
    assert d["stage"] == "propuesta"
    assert d["moves"][1]["to_stage"] == "propuesta"
    assert crm.json("deal", "list", "stage:propuesta")[0]["id"] == did
    crm.fails("deal", "list", "stage:proposal", code=1)


def test_lost_deal_cannot_move_until_reopened(crm, ana):
    did = add_deal(crm, "Licencias", "--contact", ana)
    crm("deal", "move", str(did), "proposal")
    lost = crm.json("deal", "lost", str(did), "--reason", "price")
    assert lost["status"] == "lost" and lost["lost_reason"] == "price" and lost["closed_at"]
    err = crm.fails("deal", "move", str(did), "negotiation", code=1)
    assert "lost" in err.stderr and "reopen" in err.stderr
    crm.fails("deal", "won", str(did), code=1)
    assert crm.json("deal", "list") == []  # open ones by default
    assert [d["id"] for d in crm.json("deal", "list", "status:lost")] == [did]
    assert [d["id"] for d in crm.json("deal", "list", "--all")] == [did]
    reopened = crm.json("deal", "reopen", str(did))
    assert reopened["status"] == "open" and reopened["lost_reason"] is None
    assert reopened["stage"] == "proposal"
    crm("deal", "move", str(did), "negotiation")
    won = crm.json("deal", "won", str(did))
    assert won["status"] == "won" and won["weighted_amount"] is None
    statuses = [
        (m["from_status"], m["to_status"]) for m in crm.json("deal", "show", str(did))["moves"]
    ]
    assert statuses == [(None, "open"), ("open", "open"), ("open", "lost"), ("lost", "open"),
                        ("open", "open"), ("open", "won")]  # fmt: skip


def test_move_errors(crm, ana):
    did = add_deal(crm, "Licencias", "--contact", ana)
    crm("pipeline", "add", "Renewals", "--stage", "contacted:20", "--stage", "quoted:60")
    err = crm.fails("deal", "move", str(did), "quoted", code=1)
    assert "Renewals" in err.stderr and "sales" in err.stderr
    err = crm.fails("deal", "move", str(did), "nope", code=1)
    assert "'nope'" in err.stderr and "lead" in err.stderr
    crm.fails("deal", "move", str(did), "9", code=1)
    crm.fails("deal", "move", str(did), "0", code=1)
    err = crm.fails("deal", "move", str(did), "won", code=1)
    assert "crm deal won" in err.stderr
    crm.fails("deal", "move", "99", "lead", code=3)
    # Moving to the stage it is at changes nothing and is not an error.
    r = crm("deal", "move", str(did), "lead")
    assert "already at lead" in r.stderr
    assert len(crm.json("history", f"deal:{did}")) == 1


def test_deal_add_errors_leave_nothing(crm, ana):
    crm.fails("deal", "add", "X", "--amount", "abc", code=1)
    crm.fails("deal", "add", "X", "--amount", "-5", code=1)
    crm.fails("deal", "add", "X", "--currency", "EUR", code=1)
    crm.fails("deal", "add", "X", "--amount", "10", "--currency", "XYZ", code=1)
    crm.fails("deal", "add", "X", "--amount", "10 USD", "--currency", "EUR", code=1)
    err = crm.fails("deal", "add", "X", "--close", "the day after the blue moon", code=1)
    assert "the day after the blue moon" in err.stderr
    crm.fails("deal", "add", "X", "--org", "Nope Inc", code=3)
    crm.fails("deal", "add", "X", "--contact", "nobody@example.es", code=3)
    crm.fails("deal", "add", "X", "--owner", "ghost", code=3)
    crm.fails("deal", "add", "X", "--stage", "nope", code=1)
    crm.fails("deal", "add", "X", "--pipeline", "nope", code=3)
    crm.fails("deal", "add", "   ", code=1)
    assert crm.json("deal", "list", "--all") == []


def test_amount_currency_forms(crm, ana):
    usd = add_deal(crm, "A", "--amount", "500 USD")
    jpy = add_deal(crm, "B", "--amount", "1500", "--currency", "jpy")
    default = add_deal(crm, "C", "--amount", "99.9")
    assert crm.json("deal", "show", str(usd))["amount_minor"] == 50000
    j = crm.json("deal", "show", str(jpy))
    assert j["currency"] == "JPY" and j["amount"] == "1500" and j["amount_minor"] == 1500
    assert crm.json("deal", "show", str(default))["amount"] == "99.90"
    # Amounts compare in config money.currency (EUR): other currencies never match,
    # unless the filter names the currency.
    assert [d["id"] for d in crm.json("deal", "list", "amount>50")] == [default]
    assert [d["id"] for d in crm.json("deal", "list", "amount>100", "currency:USD")] == [usd]
    add_deal(crm, "D")
    assert [d["title"] for d in crm.json("deal", "list", "no:amount")] == ["D"]
    assert len(crm.json("deal", "list", "has:amount")) == 3


def test_edit_tags_fields_and_undo(crm, ana):
    did = add_deal(crm, "Licencias", "--amount", "100", "--tag", "q1")
    d = crm.json("deal", "edit", str(did), "--amount", "250.5", "--tag", "renewal",
                 "--untag", "q1", "--field", "seats=40", "--close", "2026-06-30")  # fmt: skip
    assert d["amount"] == "250.50" and d["tags"] == ["renewal"] and d["custom"] == {"seats": "40"}
    assert d["expected_close_date"] == "2026-06-30"
    assert [x["id"] for x in crm.json("deal", "list", "tag:renewal", "field.seats>30")] == [did]
    crm("undo")
    d = crm.json("deal", "show", str(did))
    assert d["amount"] == "100.00" and d["tags"] == ["q1"] and d["custom"] == {}
    crm.fails("deal", "edit", str(did), code=1)  # nothing to change
    crm.fails("deal", "edit", str(did), "--untag", "nope", code=1)
    crm.fails("deal", "edit", str(did), "--title", "", code=1)


def test_undo_a_move_restores_stage_and_drops_the_record(crm, ana):
    did = add_deal(crm, "Licencias")
    crm("deal", "move", str(did), "proposal")
    crm("undo")
    d = crm.json("deal", "show", str(did))
    assert d["stage"] == "lead" and len(d["moves"]) == 1


def test_delete_refuses_when_activities_refer_then_cascades(crm, ana):
    did = add_deal(crm, "Licencias", "--contact", ana)
    crm("log", "note", "Precio enviado", "--deal", str(did))
    err = crm.fails("deal", "delete", str(did), code=1)
    assert "activities" in err.stderr and "--cascade" in err.stderr
    crm("deal", "delete", str(did), "--cascade")
    crm.fails("deal", "show", str(did), code=3)
    crm("undo")
    assert crm.json("deal", "show", str(did))["title"] == "Licencias"
    assert len(crm.json("timeline", f"deal:{did}")) == 1


def test_pipelines_and_stages(crm):
    pid = crm(
        "pipeline", "add", "Renewals", "--stage", "contacted:20", "--stage", "quoted:60%"
    ).stdout
    assert pid.strip() == "2"
    crm("pipeline", "stage", "add", "Renewals", "signed", "--probability", "90")
    crm(
        "pipeline",
        "stage",
        "add",
        "Renewals",
        "qualified",
        "--probability",
        "40",
        "--position",
        "2",
    )
    crm("pipeline", "stage", "move", "Renewals", "signed", "1")
    crm("pipeline", "stage", "probability", "Renewals", "quoted", "70")
    crm("undo")
    assert crm.json("pipeline", "show", "Renewals")["stages"][3]["probability"] == 60
    crm("pipeline", "stage", "probability", "Renewals", "quoted", "65")
    p = crm.json("pipeline", "show", "renewals")
    assert [(s["name"], s["position"], s["probability"]) for s in p["stages"]] == [
        ("signed", 1, 90), ("contacted", 2, 20), ("qualified", 3, 40), ("quoted", 4, 65),
    ]  # fmt: skip
    names = [x["name"] for x in crm.json("pipeline", "list")]
    assert names == ["sales", "Renewals"]
    did = add_deal(crm, "Renovación", "--pipeline", "Renewals", "--stage", "quoted")
    assert crm.json("deal", "show", str(did))["pipeline"] == "Renewals"
    assert crm.json("deal", "list", "pipeline:renewals")[0]["id"] == did
    crm.fails("pipeline", "add", "renewals", "--stage", "a:1", code=1)  # name taken
    crm.fails("pipeline", "add", "P", "--stage", "a", code=1)  # no probability
    crm.fails("pipeline", "add", "P", "--stage", "a:101", code=1)
    crm.fails("pipeline", "add", "P", "--stage", "a:10", "--stage", "A:20", code=1)
    crm.fails("pipeline", "add", "P", "--stage", "7:10", code=1)
    crm.fails("pipeline", "stage", "add", "sales", "lead", "--probability", "5", code=1)
    crm.fails("pipeline", "stage", "rename", "sales", "lead", "Qualified", code=1)
    crm.fails("pipeline", "stage", "move", "sales", "lead", "9", code=1)
    crm.fails("pipeline", "show", "nope", code=3)


def test_pipeline_show_totals_per_currency(crm):
    add_deal(crm, "A", "--amount", "100", "--stage", "proposal")
    add_deal(crm, "B", "--amount", "50.01", "--stage", "proposal")
    add_deal(crm, "C", "--amount", "10 USD", "--stage", "proposal")
    stages = {s["name"]: s for s in crm.json("pipeline", "show")["stages"]}
    assert stages["proposal"]["open_deals"] == 3
    assert stages["proposal"]["amounts"] == {"EUR": "150.01", "USD": "10.00"}
    assert stages["proposal"]["weighted"] == {"EUR": "75.00", "USD": "5.00"}  # 75.005 -> even


def test_weighted_rounding_is_half_even():
    assert deals._weighted(15001, 50) == 7500
    assert deals._weighted(15003, 50) == 7502
    assert deals._weighted(1, 10) == 0
    assert deals._weighted(5, 10) == 0 and deals._weighted(15, 10) == 2


def test_domain_list_uses_stage_ids(crm, ana, tmp_path):
    add_deal(crm, "A", "--stage", "proposal")
    db = open_session(str(tmp_path / "crm.db"))
    assert [d.title for d in deals.list_deals(db, ["stage:proposal or stage:lead"])] == ["A"]
    assert deals.list_deals(db, ["!stage:proposal"]) == []


def test_money_filters_keep_to_one_currency_per_comparison(crm):
    eur = add_deal(crm, "E", "--amount", "150")
    usd = add_deal(crm, "U", "--amount", "500 USD", "--tag", "vip")
    yen = add_deal(crm, "Y", "--amount", "1000 JPY")
    none = add_deal(crm, "N")
    ids = lambda *f: sorted(d["id"] for d in crm.json("deal", "list", *f))  # noqa: E731
    assert ids("amount>100") == [eur]
    assert ids("amount>500", "currency:JPY") == [yen]  # 500 yen, not 500 euros
    assert ids("amount>5", "currency:JPY") == [yen]
    assert ids("amount>999.5", "currency:JPY") == [yen]  # >= 1000 yen
    assert ids("amount:999.5", "currency:JPY") == []
    assert ids("amount>100000 or tag:vip") == [usd]
    assert ids("no:amount or amount<200") == [eur, none]
    assert ids("!amount>100") == [usd, yen, none]
    crm.fails("deal", "list", "amount>1", "currency:XYZ", code=1)


def test_stage_commands_print_the_stage_id_and_names_fold_unicode(crm):
    sid = crm("pipeline", "stage", "add", "sales", "Étape Ñ", "--probability", "30").stdout
    assert sid.strip() == "5"
    assert crm("pipeline", "stage", "rename", "sales", "étape ñ", "Revisión").stdout.strip() == "5"
    assert crm("pipeline", "stage", "move", "sales", "REVISIÓN", "1").stdout.strip() == "5"
    assert crm("pipeline", "stage", "probability", "sales", "1", "35").stdout.strip() == "5"
    did = add_deal(crm, "U", "--stage", "revisión")
    assert [d["id"] for d in crm.json("deal", "list", "stage:REVISIÓN")] == [did]
    err = crm.fails("deal", "move", str(did), "revision", code=1)  # accents matter
    assert "no stage 'revision'" in err.stderr
    crm.fails("pipeline", "stage", "add", "sales", "Won", "--probability", "100", code=1)
    assert [s["name"] for s in crm.json("pipeline", "list")[0]["stages"]][:1] == ["Revisión"]


def test_huge_amounts_are_refused_not_overflowed(crm):
    add_deal(crm, "Big", "--amount", "50000000000")
    add_deal(crm, "Big2", "--amount", "50000000000")
    assert crm.json("pipeline", "show")["stages"][0]["amounts"] == {"EUR": "100000000000.00"}
    err = crm.fails("deal", "add", "Huge", "--amount", "50000000000000000", code=1)
    assert "too large" in err.stderr
