"""History and undo: every change recorded, one command = one undo step, redo by reverting an undo."""

from __future__ import annotations

import sqlite3


def _add(crm, *args):
    return int(crm("contact", "add", *args).stdout.strip())


def test_undo_add_removes_contact_and_children_and_new_org(crm):
    cid = _add(
        crm,
        "Ana García",
        "--email",
        "ana@example.es",
        "--phone",
        "+34600123456",
        "--tag",
        "vip",
        "--org",
        "Acme SL",
    )
    out = crm("undo").stdout
    assert "contact add Ana García" in out
    crm.fails("contact", "show", str(cid), code=3)
    assert crm.json("org", "list") == []
    assert crm.json("search", "ana") == []


def test_undo_edit_restores_every_field(crm):
    cid = _add(crm, "Ana García", "--email", "ana@example.es", "--title", "CTO")
    before = crm.json("contact", "show", str(cid))
    crm("contact", "edit", str(cid), "--title", "CEO", "--add-email", "work=ana@acme.es", "--remove-email",
        "ana@example.es", "--field", "tier=gold", "--city", "Valencia")  # fmt: skip
    changed = crm.json("contact", "show", str(cid))
    assert changed["title"] == "CEO" and [e["value"] for e in changed["emails"]] == ["ana@acme.es"]
    assert changed["custom"] == {"tier": "gold"}
    crm("undo")
    assert crm.json("contact", "show", str(cid)) == before


def test_undo_delete_brings_back_same_ids(crm, isolated):
    cid = _add(
        crm, "Ana García", "--email", "ana@example.es", "--phone", "+34600123456", "--tag", "vip"
    )
    conn = sqlite3.connect(isolated / "crm.db")
    email_ids = [r[0] for r in conn.execute("SELECT id FROM emails")]
    before = crm.json("contact", "show", str(cid))
    crm("contact", "delete", str(cid))
    crm.fails("contact", "show", str(cid), code=3)
    crm("undo")
    assert crm.json("contact", "show", str(cid)) == before
    assert [r[0] for r in conn.execute("SELECT id FROM emails")] == email_ids
    assert crm.json("search", "garcia")[0]["id"] == cid


def test_undo_tag_and_untag(crm):
    cid = _add(crm, "Ana", "--tag", "a")
    crm("contact", "tag", str(cid), "b", "c")
    assert crm.json("contact", "show", str(cid))["tags"] == ["a", "b", "c"]
    crm("contact", "untag", str(cid), "a")
    assert crm.json("contact", "show", str(cid))["tags"] == ["b", "c"]
    crm("undo")
    assert crm.json("contact", "show", str(cid))["tags"] == ["a", "b", "c"]
    crm("undo")
    assert crm.json("contact", "show", str(cid))["tags"] == ["a"]


def test_undo_twice_reverts_two_and_skips_undos(crm):
    a = _add(crm, "Ana")
    b = _add(crm, "Bob")
    crm("undo")
    crm("undo")
    assert crm.json("contact", "list") == []
    crm.fails("undo", code=3)
    assert a != b


def test_reverting_an_undo_redoes_it(crm):
    cid = _add(crm, "Ana")
    crm("contact", "edit", str(cid), "--title", "CEO")
    undo = crm.json("undo")
    assert crm.json("contact", "show", str(cid))["title"] is None
    redo = crm.json("undo", str(undo["undo_set_id"]))
    assert redo["was_undo"] is True
    assert crm.json("contact", "show", str(cid))["title"] == "CEO"
    # The original edit counts as not undone again, so plain undo reverts it once more.
    crm("undo")
    assert crm.json("contact", "show", str(cid))["title"] is None


def test_undo_refuses_over_later_changes_unless_forced(crm):
    cid = _add(crm, "Ana")
    crm("contact", "edit", str(cid), "--title", "CEO")
    sets = crm.json("history")
    edit_set = sets[0]["id"]
    crm("contact", "edit", str(cid), "--title", "CTO")
    err = crm.fails("undo", str(edit_set), code=1)
    assert "later change sets" in err.stderr and "contact edit" in err.stderr
    assert crm.json("contact", "show", str(cid))["title"] == "CTO"
    crm("undo", str(edit_set), "--force")
    assert crm.json("contact", "show", str(cid))["title"] is None


def test_undo_already_reverted_and_unknown_set(crm):
    _add(crm, "Ana")
    first = crm.json("undo")
    crm.fails("undo", str(first["set_id"]), code=1)
    crm.fails("undo", "999", code=3)


def test_first_use_user_is_not_undoable(crm):
    _add(crm, "Ana")
    sets = crm.json("history")
    first_use = [s for s in sets if not s["undoable"]]
    assert first_use and first_use[0]["changes"][0]["table_name"] == "users"
    crm.fails("undo", str(first_use[0]["id"]), code=1)
    crm("undo")
    assert [u["name"] for u in crm.json("user", "list")] == ["tester"]


def test_undo_is_per_user(crm):
    crm("user", "add", "maria")
    _add(crm, "Ana")
    crm("--as", "maria", "contact", "add", "Bob")
    crm("undo")  # tester's Ana
    assert [c["name"] for c in crm.json("contact", "list")] == ["Bob"]


def test_history_of_one_contact_includes_child_rows(crm):
    a = _add(crm, "Ana", "--email", "ana@example.es")
    _add(crm, "Bob")
    crm("contact", "tag", str(a), "vip")
    sets = crm.json("history", f"contact:{a}")
    assert [s["label"] for s in sets] == ["contact tag vip", "contact add Ana"]
    table = crm("history", "ana@example.es").stdout
    assert "contact tag vip" in table and "Bob" not in table
    assert crm.json("history", "--limit", "1")[0]["label"] == "contact tag vip"


def test_change_set_records_actor_command_and_before_after(crm):
    cid = _add(crm, "Ana")
    crm("contact", "edit", str(cid), "--stage", "customer")
    s = crm.json("history")[0]
    assert s["actor"] == "tester" and s["command"].startswith("crm ") and s["status"] == "done"
    (change,) = [
        c for c in s["changes"] if c["table_name"] == "contacts" and c["before"]["stage"] == "lead"
    ]
    assert change["op"] == "update" and change["after"]["stage"] == "customer"
