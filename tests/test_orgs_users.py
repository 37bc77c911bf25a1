"""Organizations, team members, teams, and deleting what others refer to."""

from __future__ import annotations


def test_org_add_show_list_edit(crm):
    oid = crm("org", "add", "Acme SL", "--domain", "https://www.Acme.es/", "--industry", "manufacturing",
              "--phone", "office=+34 963 123 456", "--tag", "key-account", "--field", "vat=B123").stdout.strip()  # fmt: skip
    o = crm.json("org", "show", oid)
    assert o["domain"] == "acme.es" and o["phones"][0]["value"] == "+34963123456"
    assert o["tags"] == ["key-account"] and o["custom"] == {"vat": "B123"} and o["people"] == []
    assert crm.json("org", "show", "acme.es")["id"] == int(oid)
    crm("contact", "add", "Ana", "--org", "acme sl")  # case-insensitive link, no new org
    assert len(crm.json("org", "list")) == 1
    assert crm.json("org", "list", "people>=1")[0]["people_count"] == 1
    crm("org", "edit", "Acme SL", "--name", "Acme Ibérica SL", "--city", "Valencia")
    assert crm.json("contact", "show", "Ana")["org"] == "Acme Ibérica SL"
    assert crm.json("search", "iberica")[0]["kind"] in ("org", "contact")
    crm.fails("org", "add", "acme ibérica sl", code=1)


def test_org_delete_refuses_with_people_then_cascades_and_undo_restores(crm):
    crm("contact", "add", "Ana", "--org", "Acme SL", "--email", "ana@acme.es")
    crm("contact", "add", "Bob", "--org", "Acme SL")
    err = crm.fails("org", "delete", "Acme SL", code=1)
    assert "--cascade" in err.stderr and "contacts" in err.stderr
    crm("org", "delete", "Acme SL", "--cascade")
    assert crm.json("contact", "list") == [] and crm.json("org", "list") == []
    crm("undo")
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana", "Bob"]
    assert crm.json("org", "show", "Acme SL")["people_count"] == 2


def test_org_name_and_unlink(crm):
    crm("contact", "add", "Ana", "--org", "Acme SL")
    crm("contact", "edit", "Ana", "--org", "")
    assert crm.json("contact", "show", "Ana")["org_id"] is None
    crm("contact", "edit", "Ana", "--org", "Beta SA")
    assert crm.json("contact", "show", "Ana")["org"] == "Beta SA"


def test_users_teams_owner(crm):
    crm("team", "add", "Ventas")
    crm("user", "add", "maria", "--email", "maria@acme.es", "--role", "manager", "--team", "Ventas")
    crm(
        "user",
        "add",
        "luis",
        "--email",
        "luis@acme.es",
        "--team",
        "ventas",
        "--manager",
        "maria@acme.es",
    )
    users = {u["name"]: u for u in crm.json("user", "list")}
    assert users["luis"]["manager"] == "maria" and users["luis"]["team"] == "Ventas"
    assert crm.json("team", "list")[0]["members"] == 2
    cid = crm("contact", "add", "Ana", "--owner", "luis@acme.es").stdout.strip()
    c = crm.json("contact", "show", cid)
    assert c["owner"] == "luis" and c["owner_id"] == users["luis"]["id"]
    assert [x["name"] for x in crm.json("contact", "list", "owner:luis")] == ["Ana"]
    crm("--as", "maria", "contact", "edit", cid, "--owner", "maria")
    assert crm.json("history")[0]["actor"] == "maria"
    crm("user", "edit", "luis", "--role", "admin")
    assert {u["name"]: u for u in crm.json("user", "list")}["luis"]["role"] == "admin"
    crm.fails("user", "add", "x", "--role", "boss", code=1)
    crm.fails("user", "add", "maria", code=1)
    crm.fails("contact", "add", "Bob", "--owner", "nobody", code=3)
    crm.fails("--as", "stranger", "contact", "add", "Eve", code=1)
    crm.fails("user", "add", "pepe", "--team", "nosuch", code=3)


def test_acting_user_from_config_default(crm, isolated, monkeypatch):
    monkeypatch.delenv("CRM_USER")
    crm("config", "set", "user.default", "lola")
    crm("contact", "add", "Ana")
    assert crm.json("contact", "show", "Ana")["owner"] == "lola"


def test_org_name_filters_follow_renames_and_undo(crm):
    """org~ compares a stored folded name (storage keeps it on every commit)."""

    def who(*f):
        return [c["name"] for c in crm.json("contact", "list", *f)]

    crm("contact", "add", "Ana", "--org", "Müller GmbH")
    assert who("org~muller") == ["Ana"] and who("org~MÜLL") == ["Ana"]
    crm("org", "edit", "Müller GmbH", "--name", "Schmidt AG")
    assert who("org~muller") == [] and who("org~schmidt") == ["Ana"]
    assert [o["name"] for o in crm.json("org", "list", "name~schmi")] == ["Schmidt AG"]
    crm("undo")
    assert who("org~muller") == ["Ana"] and who("org!~muller") == []
