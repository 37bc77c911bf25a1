"""Regressions for defects a review found: lost concurrent edits, partial bulk adds, undo chains."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from crm_cli.domain import contacts
from crm_cli.domain.session import open_session
from crm_cli.errors import Conflict, NotFound
from crm_cli.storage import transaction


def _add(crm, *args):
    return int(crm("contact", "add", *args).stdout.strip())


def _crm_proc(*args):
    return subprocess.Popen([sys.executable, "-m", "crm_cli", *args], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_concurrent_tag_commands_keep_every_tag(crm):
    cid = _add(crm, "Ana")
    procs = [_crm_proc("contact", "tag", str(cid), f"p{i}") for i in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(crm.json("contact", "show", str(cid))["tags"]) == sorted(
        f"p{i}" for i in range(8)
    )


def test_editor_refuses_when_contact_changed_meanwhile(crm, isolated, monkeypatch):
    cid = _add(crm, "Ana", "--title", "CTO")
    script = isolated / "ed.py"
    script.write_text(
        textwrap.dedent(f"""
        import subprocess, sys
        subprocess.run([{sys.executable!r}, "-m", "crm_cli", "contact", "tag", "{cid}", "meanwhile"], check=True)
        p = sys.argv[1]
        s = open(p).read().replace('title = "CTO"', 'title = "Chief"')
        open(p, "w").write(s)
    """)
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    r = crm.fails("contact", "edit", str(cid), code=1)
    assert "changed by another command" in r.stderr and "unsaved.toml" in r.stderr
    c = crm.json("contact", "show", str(cid))
    assert c["tags"] == ["meanwhile"] and c["title"] == "CTO"


def test_bulk_add_ids_stay_unique_across_checkpoints(isolated):
    path = str(isolated / "crm.db")
    db = open_session(path, actor="a")
    other = open_session(path, actor="a")
    recs = [{"name": f"B{i}"} for i in range(10)]
    original = contacts.draft

    calls = {"n": 0}

    def interleave(*a, **k):  # another writer commits while the bulk add runs
        return original(*a, **k)

    ids = contacts.add_many(db, recs[:5], batch=2)
    contacts.add(other, "Between")
    ids += contacts.add_many(db, recs[5:], batch=2)
    assert len(set(ids)) == 10 and calls["n"] == 0 and interleave


def test_checkpoint_forgets_cached_ids(isolated):
    path = str(isolated / "crm.db")
    db = open_session(path, actor="a")
    other = open_session(path, actor="a")
    contacts.add(db, "First")
    with transaction(db, "bulk") as tx:
        tx.insert_many("teams", [{"name": "t1", "created_at": tx.at}])
        tx.checkpoint()
        with transaction(other, "other") as tx2:
            tx2.insert("teams", {"name": "x", "created_at": tx2.at})
        tx.insert_many("teams", [{"name": "t2", "created_at": tx.at}])
    names = [r[0] for r in db.conn.execute("SELECT name FROM teams ORDER BY id")]
    assert names == ["t1", "x", "t2"]


def test_bulk_add_with_unknown_owner_late_writes_nothing(isolated):
    db = open_session(str(isolated / "crm.db"), actor="a")
    recs = [{"name": f"P{i}"} for i in range(6)] + [{"name": "X", "owner": "nobody"}]
    with pytest.raises(NotFound):
        contacts.add_many(db, recs, batch=2)
    assert db.conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0


@pytest.mark.parametrize(
    "line",
    [
        '{"name": 5}',
        '{"name": "A", "emails": ["a@b.com", 5]}',
        '{"name": "A", "phones": [true]}',
        '{"name": "A", "org": {"x": 1}}',
        '{"name": "A", "stage": ["x"]}',
        '{"name": "A", "consent": true}',
        '{"name": "A", "title": ["x"]}',
        '{"name": "A", "fields": {"a": {"b": 1}}}',
        '{"name": "A", "tags": {"x": 1}}',
        '["A"]',
        '{"name": "A", "nonsense": 1}',
        "not json",
    ],
)
def test_bulk_add_rejects_wrong_types_cleanly(crm, isolated, line):
    f = isolated / "in.ndjson"
    f.write_text('{"name": "Ok"}\n' + line + "\n", encoding="utf-8")
    r = crm.fails("contact", "add", "--from-ndjson", str(f), code=1)
    assert ":2" in r.stderr or "record 2" in r.stderr
    assert not (isolated / "crm.db").exists() or crm.json("contact", "list") == []


def test_bulk_add_accepts_its_own_output(crm, isolated):
    _add(crm, "Ana García", "--email", "work=ana@acme.es", "--phone", "+34600123456", "--tag", "vip",
         "--org", "Acme SL", "--field", "tier=gold", "--social", "x=@ana")  # fmt: skip
    out = crm("contact", "list", "--ndjson").stdout
    f = isolated / "again.ndjson"
    f.write_text(out, encoding="utf-8")
    crm("contact", "add", "--from-ndjson", str(f))
    a, b = crm.json("contact", "list")
    for k in (
        "name",
        "emails",
        "phones",
        "tags",
        "org_id",
        "custom",
        "social",
        "created_at",
        "stage",
    ):
        assert a[k] == b[k], k
    tags = isolated / "tags.ndjson"
    tags.write_text('{"name": "T", "tags": "vip,gold", "postal_code": 46001}\n', encoding="utf-8")
    crm("contact", "add", "--from-ndjson", str(tags))
    t = crm.json("contact", "show", "T")
    assert t["tags"] == ["gold", "vip"] and t["postal_code"] == "46001"


def test_undo_sees_later_changes_to_child_rows(crm):
    cid = _add(crm, "Dup Test", "--email", "e@x.com")
    crm("contact", "edit", str(cid), "--remove-email", "e@x.com")
    remove_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "edit", str(cid), "--add-email", "e@x.com")
    r = crm.fails("undo", str(remove_set), code=1)
    assert "later change sets" in r.stderr
    assert [e["value"] for e in crm.json("contact", "show", str(cid))["emails"]] == ["e@x.com"]


def test_forced_undo_of_an_add_removes_later_children(crm):
    cid = _add(crm, "Zed One", "--org", "NewCo")
    add_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "edit", str(cid), "--add-email", "z@x.com")
    crm.fails("undo", str(add_set), code=1)
    crm("undo", str(add_set), "--force")
    crm.fails("contact", "show", str(cid), code=3)
    assert crm.json("org", "list") == []


def test_undo_of_org_add_with_later_people_is_a_named_conflict(crm):
    crm("org", "add", "Acme SL")
    org_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "add", "Ana", "--org", "Acme SL")
    r = crm.fails("undo", str(org_set), "--force", code=1)
    assert "contact add Ana" in r.stderr
    assert crm.json("org", "show", "Acme SL")["people_count"] == 1


def test_undo_redo_undo_chain_keeps_history_true(crm):
    crm("org", "add", "Zeta")
    crm("org", "edit", "Zeta", "--name", "Zeta Corp")
    edit = crm.json("history", "--limit", "1")[0]["id"]
    u1 = crm.json("undo")["undo_set_id"]
    redo = crm.json("undo", str(u1))["undo_set_id"]
    assert crm.json("org", "list")[0]["name"] == "Zeta Corp"
    crm("undo", str(redo))  # undo the redo: the edit is undone again
    assert crm.json("org", "list")[0]["name"] == "Zeta"
    sets = {s["id"]: s for s in crm.json("history")}
    assert sets[edit]["reverted_by_set_id"] == u1
    assert sets[u1]["reverted_by_set_id"] is None
    assert sets[redo]["reverted_by_set_id"] is not None
    # The user's latest undoable set is now the org add.
    crm("undo")
    assert crm.json("org", "list") == []


def test_parallel_first_open_never_fails(isolated):
    for round_ in range(3):
        path = isolated / f"new{round_}.db"
        code = f"from crm_cli.storage import open_db; open_db({str(path)!r})"
        procs = [
            subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
            for _ in range(10)
        ]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errs


def test_two_demos_at_once_fill_once(crm, isolated):
    procs = [_crm_proc("demo") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum("changes nothing" in o for o, _ in outs) == 1
    conn = sqlite3.connect(isolated / "crm.db")
    assert conn.execute("SELECT count(*) FROM orgs").fetchone()[0] == 8


def test_selectors_with_odd_digits(crm):
    _add(crm, "Ana")
    crm.fails("contact", "show", "99999999999999999999999", code=3)
    crm.fails("contact", "show", "²", code=3)
    crm.fails("org", "show", "99999999999999999999999", code=3)
    crm.fails("undo", "99999999999999999999999", code=3)
    crm.fails("history", "contact:99999999999999999999999", code=3)


def test_unicode_case_insensitive_names(crm):
    crm("contact", "add", "A1", "--org", "Óptica Sol SL")
    crm("contact", "add", "A2", "--org", "óptica sol sl")
    assert len(crm.json("org", "list")) == 1
    crm.fails("org", "add", "ÓPTICA SOL SL", code=1)
    _add(crm, "Pablo Sánchez Díaz")
    assert crm.json("contact", "show", "PABLO SÁNCHEZ DÍAZ")["name"] == "Pablo Sánchez Díaz"
    f = crm("contact", "list", "--sort", "name", "--json").stdout
    assert [c["name"] for c in json.loads(f)] == ["A1", "A2", "Pablo Sánchez Díaz"]


def test_accented_names_sort_with_their_letter(crm):
    for n in ("Zoe", "Álvaro", "Bea", "Íñigo"):
        _add(crm, n)
    assert [c["name"] for c in crm.json("contact", "list", "--sort", "name")] == [
        "Álvaro",
        "Bea",
        "Íñigo",
        "Zoe",
    ]


def test_csv_header_is_the_same_with_no_rows(crm):
    _add(crm, "Ana")
    full = crm("contact", "list", "--csv").stdout.splitlines()[0]
    empty = crm("contact", "list", "tag:none", "--csv").stdout.splitlines()
    assert empty == [full]


def test_org_hash_id_reference(crm):
    oid = crm("org", "add", "Acme SL").stdout.strip()
    crm("contact", "add", "Ana", "--org", f"#{oid}")
    assert crm.json("contact", "show", "Ana")["org"] == "Acme SL"
    crm.fails("contact", "add", "Bob", "--org", "#999", code=3)
    assert len(crm.json("org", "list")) == 1


def test_undo_conflict_in_domain_names_sets(isolated):
    db = open_session(str(isolated / "crm.db"), actor="a")
    c = contacts.add(db, "Ana")
    contacts.tag(db, [c.id], ["x"])
    from crm_cli.domain import history

    first = history.sets(db)[-1]["id"]
    with pytest.raises(Conflict, match="contact tag x"):
        history.undo(db, first + 1)


def test_parallel_validation_matches_serial_and_reports_first_bad_record(isolated):
    from crm_cli.domain.contacts import _drafts, _drafts_parallel
    from crm_cli.errors import InvalidInput

    stages = ["lead", "customer"]
    recs = [
        {"name": f"P{i}", "emails": [f"P{i}@Example.com"], "phones": [f"+34 600 000 {i:03d}"]}
        for i in range(20)
    ]
    assert _drafts_parallel(recs, stages, chunk=3) == _drafts(recs, stages, 1)
    bad = list(recs)
    bad[7] = {"name": "X", "emails": ["nope"]}
    bad[15] = {"name": "Y", "emails": ["nope"]}
    with pytest.raises(InvalidInput, match="record 8:"):
        _drafts_parallel(bad, stages, chunk=3)


def test_bulk_add_through_the_parallel_path(isolated):
    db = open_session(str(isolated / "crm.db"), actor="a")
    recs = [
        {"name": f"P{i}", "tags": ["t"], "org": "Acme SL" if i % 2 else None} for i in range(30)
    ]
    ids = contacts.add_many(db, recs, parallel_from=10, batch=7)
    assert len(ids) == 30
    assert db.conn.execute("SELECT count(*) FROM contact_tags").fetchone()[0] == 30
    assert db.conn.execute("SELECT count(*) FROM orgs").fetchone()[0] == 1


# ---- second review ----------------------------------------------------------


def test_undo_refuses_a_set_still_being_written(isolated):
    db = open_session(str(isolated / "crm.db"), actor="a")
    from crm_cli.domain import history

    with pytest.raises(Conflict, match="reverted while it was being written"):
        with transaction(db, "bulk") as tx:
            tx.insert_many("teams", [{"name": "t1", "created_at": tx.at}])
            tx.checkpoint()
            other = open_session(str(isolated / "crm.db"), actor="a")
            with pytest.raises(Conflict, match="still being written"):
                history.undo(other)
            history.undo(other, force=True)  # forced: reverts what was committed so far
            tx.insert_many("teams", [{"name": "t2", "created_at": tx.at}])  # the writer notices
    assert db.conn.execute("SELECT count(*) FROM teams").fetchone()[0] == 0


def test_forced_undo_keeps_later_edits_to_other_columns(crm):
    cid = _add(crm, "Ana", "--city", "Valencia")
    crm("contact", "edit", str(cid), "--stage", "customer")
    stage_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "edit", str(cid), "--city", "Madrid")
    crm("undo", str(stage_set), "--force")
    c = crm.json("contact", "show", str(cid))
    assert c["stage"] == "lead" and c["city"] == "Madrid"


def test_forced_undo_does_not_resurrect_a_later_deleted_contact(crm):
    cid = _add(crm, "Ana", "--email", "ana@x.es")
    crm("contact", "tag", str(cid), "zz")
    tag_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "delete", str(cid))
    r = crm.fails("undo", str(tag_set), "--force", code=1)
    assert "nothing left to revert" in r.stderr
    crm.fails("contact", "show", str(cid), code=3)
    assert crm.json("contact", "list") == []


def test_consent_and_stage_filters_take_the_documented_spellings(crm):
    a = _add(crm, "Ana", "--consent", "opted-out")
    _add(crm, "Bob", "--consent", "granted")
    assert [c["id"] for c in crm.json("contact", "list", "consent:opted-out")] == [a]
    assert [c["name"] for c in crm.json("contact", "list", "!consent:opted-out")] == ["Bob"]
    r = crm.fails("contact", "list", "stage:nope", code=1)
    assert "lead" in r.stderr
    r = crm.fails("contact", "list", "consent:maybe", code=1)


def test_bulk_add_checks_org_ids_and_owners_before_writing(crm, isolated):
    f = isolated / "in.ndjson"
    lines = [json.dumps({"name": f"P{i}"}) for i in range(12)] + [
        json.dumps({"name": "X", "org": "#999"})
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "crm_cli", "contact", "add", "--from-ndjson", str(f)],
                       capture_output=True, text=True, env=os.environ.copy())  # fmt: skip
    assert r.returncode == 3 and "999" in r.stderr
    assert not (isolated / "crm.db").exists() or crm.json("contact", "list") == []


def test_bulk_add_on_fresh_database_with_the_acting_user_as_owner(crm, isolated):
    f = isolated / "in.ndjson"
    f.write_text('{"name": "A", "owner": "tester"}\n', encoding="utf-8")
    crm("contact", "add", "--from-ndjson", str(f))
    assert crm.json("contact", "show", "A")["owner"] == "tester"


def test_bulk_add_reports_file_lines_and_bad_encoding(crm, isolated):
    f = isolated / "in.ndjson"
    f.write_text('{"name": "A"}\n\n\n{"name": "B", "emails": ["nope"]}\n', encoding="utf-8")
    r = crm.fails("contact", "add", "--from-ndjson", str(f), code=1)
    assert "in.ndjson:4:" in r.stderr
    f.write_bytes('{"name": "Jos\xe9"}\n'.encode("latin-1"))
    r = crm.fails("contact", "add", "--from-ndjson", str(f), code=1)
    assert "not UTF-8" in r.stderr
    crm.fails("contact", "add", "--from-ndjson", str(f), "--title", "x", code=1)
    crm.fails("contact", "add", "--from-ndjson", "", code=1)
    f.write_text('{"name": "\\ud800"}\n', encoding="utf-8")
    crm.fails("contact", "add", "--from-ndjson", str(f), code=1)


def test_non_utf8_arguments_are_clear_errors(isolated):
    env = os.environ.copy()
    for args in (
        ["contact", "add", b"Jos\xe9"],
        ["search", b"\xe9"],
        ["contact", "list", b"name~\xe9"],
    ):
        r = subprocess.run([sys.executable, "-m", "crm_cli", *args], capture_output=True, env=env)
        assert r.returncode in (1, 3), r.stderr
        assert b"Traceback" not in r.stderr


def test_quoted_and_odd_names_select(crm):
    cid = _add(crm, "Ana (Madrid)")
    assert crm.json("contact", "show", "Ana (Madrid)")["id"] == cid
    assert crm.json("contact", "show", '"ana (madrid)"')["id"] == cid
    crm("org", "add", "Acme: Europe")
    assert crm.json("org", "show", "Acme: Europe")["name"] == "Acme: Europe"
    assert crm.json("history", 'org:"Acme: Europe"')[0]["label"] == "org add Acme: Europe"


def test_history_of_deleted_records(crm):
    cid = _add(crm, "Ana")
    crm("contact", "delete", str(cid))
    labels = [s["label"] for s in crm.json("history", f"contact:{cid}")]
    assert labels[0].startswith("contact delete") and labels[-1] == "contact add Ana"


def test_history_of_an_org_excludes_edits_of_its_people(crm):
    crm("contact", "add", "Ana", "--org", "Acme SL")
    crm("contact", "edit", "Ana", "--birthday", "1990-01-02")
    labels = [s["label"] for s in crm.json("history", 'org:"Acme SL"')]
    assert labels == ["contact add Ana"]


def test_nfd_text_matches_nfc(crm):
    import unicodedata

    nfd = unicodedata.normalize("NFD", "José Núñez")
    cid = _add(crm, nfd, "--org", unicodedata.normalize("NFD", "Olivares Logística SA"))
    assert crm.json("contact", "show", "José Núñez")["id"] == cid
    _add(crm, "Other", "--org", "Olivares Logística SA")
    assert len(crm.json("org", "list")) == 1


def test_editor_keeps_normalised_phones(crm, isolated, monkeypatch):
    crm("config", "set", "phone.region", "ES")
    cid = _add(crm, "Ana", "--phone", "600 123 456")
    crm("config", "unset", "phone.region")
    script = isolated / "ed.py"
    script.write_text(
        "import sys\np=sys.argv[1]\ns=open(p).read()\nopen(p,'w').write(s.replace('title = \"\"','title = \"CTO\"'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    crm("contact", "edit", str(cid))
    c = crm.json("contact", "show", str(cid))
    assert c["title"] == "CTO" and c["phones"][0]["value"] == "+34600123456"


def test_config_file_with_a_value_where_a_table_belongs(crm, isolated):
    (isolated / "config" / "config.toml").write_text('smtp = "x"\n', encoding="utf-8")
    r = crm.fails("config", "set", "smtp.host", "h", code=1)
    assert "'smtp'" in r.stderr


def test_demo_follows_custom_stages(crm):
    crm("config", "set", "contact.stages", "new,won,lost")
    crm("demo")
    assert {c["stage"] for c in crm.json("contact", "list")} <= {"new", "won", "lost"}


def test_empty_db_option_is_refused(crm):
    crm.fails("--db", "", "contact", "add", "Z", code=1)


# ---- third review -----------------------------------------------------------


def test_undo_cannot_create_two_orgs_with_one_name(crm):
    crm("org", "add", "Acme SL")
    crm("org", "edit", "Acme SL", "--name", "Foo")
    rename = crm.json("history", "--limit", "1")[0]["id"]
    crm("org", "add", "acme sl")
    r = crm.fails("undo", str(rename), code=1)
    assert "same unique value" in r.stderr
    assert sorted(o["name"] for o in crm.json("org", "list")) == ["Foo", "acme sl"]


def test_user_email_stays_unique_on_edit(crm):
    crm("user", "add", "maria", "--email", "maria@x.es")
    crm("user", "add", "juan", "--email", "juan@x.es")
    r = crm.fails("user", "edit", "juan", "--email", "MARIA@x.es", code=1)
    assert "maria" in r.stderr


def test_removing_a_stage_contacts_hold_is_refused(crm):
    crm("contact", "add", "Ana", "--stage", "churned")
    r = crm.fails("config", "set", "contact.stages", "lead,prospect,customer", code=1)
    assert "'churned' (1)" in r.stderr and "crm contact edit stage:churned" in r.stderr
    crm("contact", "edit", "stage:churned", "--stage", "customer")
    crm("config", "set", "contact.stages", "lead,prospect,customer")


def test_undo_foreign_key_conflict_names_only_real_sets(crm):
    crm("contact", "add", "Ana", "--org", "NewCo")
    add_set = crm.json("history", "--limit", "1")[0]["id"]
    crm("contact", "add", "Bob", "--org", "NewCo")
    r = crm.fails("undo", str(add_set), code=1)
    assert "contact add Bob" in r.stderr and "undo" not in r.stderr.split("revert", 1)[1]


def test_huge_limit_is_a_usage_error(crm):
    r = crm("contact", "list", "--limit", "99999999999999999999999", ok=False)
    assert r.exit_code == 2


def test_control_characters_are_refused_in_one_line_fields(crm):
    crm.fails("contact", "add", "Jo", "--title", "line1\nline2", code=1)
    crm.fails("contact", "add", "Jo", "--org", "Foo\tBar", code=1)


def test_every_read_has_the_output_formats(crm):
    crm("contact", "add", "Ana", "--org", "Acme SL")
    assert crm("contact", "show", "Ana", "--csv").stdout.startswith("id,name,")
    assert json.loads(crm("contact", "show", "Ana", "--ndjson").stdout)["name"] == "Ana"
    assert (
        json.loads(crm("org", "show", "Acme SL", "--ndjson").stdout)["people"][0]["name"] == "Ana"
    )
    assert crm("history", "--csv").stdout.startswith("id,")
    assert len(crm("config", "list", "--ndjson").stdout.splitlines()) >= 5
    assert crm("config", "list", "--csv").stdout.startswith("key,value,scope")


def test_undo_as_an_unknown_user_says_so(crm):
    crm("contact", "add", "Ana")
    crm("user", "edit", "tester", "--name", "renamed")
    r = crm.fails("undo", code=1)
    assert "unknown user 'tester'" in r.stderr


def test_editor_without_terminal_or_editor_is_refused(crm):
    crm("contact", "add", "Ana")
    r = crm.fails("contact", "edit", "Ana", code=1)
    assert "needs a terminal" in r.stderr


# ---- fourth review ----------------------------------------------------------


def test_equality_filters_fold_unicode_case(crm):
    crm("contact", "add", "X1", "--org", "ÓPTICA SUR", "--tag", "Ñandú")
    _add(crm, "Íñigo Fernández López")
    assert [c["name"] for c in crm.json("contact", "list", 'org:"óptica sur"')] == ["X1"]
    assert [c["name"] for c in crm.json("contact", "list", 'name:"ÍÑIGO FERNÁNDEZ LÓPEZ"')] == [
        "Íñigo Fernández López"
    ]
    assert [c["name"] for c in crm.json("contact", "list", "tag:ÑANDÚ")] == ["X1"]
    assert [c["name"] for c in crm.json("contact", "list", 'org!="óptica sur"')] == [
        "Íñigo Fernández López"
    ]
    # accents still count for equality (~ ignores them)
    assert crm.json("contact", "list", 'org:"optica sur"') == []


def test_digits_always_select_an_org_by_id(crm):
    acme = crm("org", "add", "Acme SL").stdout.strip()
    one = crm("org", "add", acme).stdout.strip()  # an org named like acme's id
    assert crm.json("org", "show", acme)["name"] == "Acme SL"
    assert crm.json("org", "show", f"#{acme}")["name"] == "Acme SL"
    assert crm.json("org", "show", f'"{acme}"')["id"] == int(one)
    crm("contact", "add", "Ana", "--org", acme)
    assert crm.json("contact", "show", "Ana")["org"] == "Acme SL"
    crm("contact", "add", "Bob", "--org", f'"{acme}"')
    assert crm.json("contact", "show", "Bob")["org_id"] == int(one)


def test_readding_an_email_or_phone_keeps_place_and_label(crm):
    cid = _add(
        crm,
        "Bob",
        "-e",
        "work=bob@x.com",
        "-e",
        "home=bob@home.com",
        "-p",
        "mobile=+34600111222",
        "-p",
        "+34600333444",
    )
    crm("contact", "edit", str(cid), "--add-email", "bob@x.com", "--add-phone", "+34 600 111 222")
    c = crm.json("contact", "show", str(cid))
    assert [(e["value"], e["label"], e["primary"]) for e in c["emails"]] == [
        ("bob@x.com", "work", True),
        ("bob@home.com", "home", False),
    ]
    assert [(p["value"], p["label"], p["primary"]) for p in c["phones"]][0] == (
        "+34600111222",
        "mobile",
        True,
    )


def test_name_with_first_splits_the_rest(crm):
    cid = _add(crm, "Bob Stone")
    crm("contact", "edit", str(cid), "--name", "Robert Smith", "--first", "Robert")
    c = crm.json("contact", "show", str(cid))
    assert (c["name"], c["first_name"], c["last_name"]) == ("Robert Smith", "Robert", "Smith")


def test_phone_filter_normalises_like_stored_numbers(crm):
    crm("config", "set", "phone.region", "ES")
    cid = _add(crm, "Ana", "--phone", "+34 677 395 498")
    assert [c["id"] for c in crm.json("contact", "list", "phone:677395498")] == [cid]
    assert [c["id"] for c in crm.json("contact", "list", "phone:+34677395498")] == [cid]


def test_ndjson_round_trip_keeps_phones_as_written(crm, isolated):
    _add(crm, "Ana", "--phone", "+34 677 395 498")
    f = isolated / "out.ndjson"
    f.write_text(crm("contact", "list", "--ndjson").stdout, encoding="utf-8")
    crm("contact", "add", "--from-ndjson", str(f))
    raws = [c["phones"][0]["raw"] for c in crm.json("contact", "list")]
    assert raws == ["+34 677 395 498", "+34 677 395 498"]


def test_csv_writes_empty_objects_as_json(crm):
    _add(crm, "Ana")
    row = next(csv.DictReader(io.StringIO(crm("contact", "list", "--csv").stdout)))
    assert row["custom"] == "{}" and row["social"] == "{}"


def test_custom_fields_compare_as_numbers_only_when_they_are_numbers(crm):
    _add(crm, "Dash", "-f", "score=1-2")
    _add(crm, "Ten", "-f", "score=10")
    _add(crm, "Date", "-f", "score=2024-05-01")
    assert [c["name"] for c in crm.json("contact", "list", "field.score<=2")] == []
    assert [c["name"] for c in crm.json("contact", "list", "field.score>=10.0")] == ["Ten"]
    assert [c["name"] for c in crm.json("contact", "list", "field.score:10.0")] == ["Ten"]
    assert [c["name"] for c in crm.json("contact", "list", "field.score!=10")] == ["Dash", "Date"]
    assert [c["name"] for c in crm.json("contact", "list", "field.score:1-2")] == ["Dash"]


def test_search_with_a_nul_is_not_an_sql_error(crm):
    """bench/torture's hostile strings: a NUL ended FTS5's reading of the query mid-string."""
    crm("contact", "add", "Ann Lee")
    assert [h["name"] for h in crm.json("search", "ann\x00lee")] == ["Ann Lee"]
    assert crm.json("search", "\x00") == []
