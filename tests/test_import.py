"""crm import: rejects, dry runs, re-imports, revert, and a real import killed half-way."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest


def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return path


RECORDS = [
    {"name": "Ana García", "emails": ["ana@example.es"], "org": "Acme SL", "external_id": "A1"},
    {"name": "Bob Stone", "emails": ["bob@example.com"], "phones": ["+34 600 111 222"]},
    {"name": "", "emails": []},
    {"name": "Carla", "emails": ["bad@@x"]},
    {"name": "Dora", "phones": ["+44 20 7946 0991"], "tags": ["vip"]},
]


@pytest.fixture
def ndjson(tmp_path):
    p = _write(tmp_path / "people.ndjson", RECORDS)
    with open(p, "a", encoding="utf-8") as f:
        f.write("not json\n")
    return p


def test_import_rejects_bad_rows_with_line_and_reason(crm, ndjson, tmp_path):
    rejects = tmp_path / "rejects.csv"
    r = crm("import", "contacts", str(ndjson), "--rejects", str(rejects), "--json", ok=False)
    assert r.exit_code == 11, r.stderr  # some rejected
    res = json.loads(r.stdout)
    assert (res["created"], res["updated"], res["rejected"]) == (3, 0, 3)
    assert "3 created" in r.stderr and "3 rejected" in r.stderr
    rows = list(csv.DictReader(open(rejects, encoding="utf-8")))
    assert [int(x["line"]) for x in rows] == [3, 4, 6]
    assert "needs a name" in rows[0]["reason"] and "bad@@x" in rows[1]["reason"]
    assert rows[2]["raw"] == "not json" and "not JSON" in rows[2]["reason"]
    names = sorted(c["name"] for c in crm.json("contact", "list"))
    assert names == ["Ana García", "Bob Stone", "Dora"]
    assert crm.json("contact", "show", "Dora")["phones"][0]["value"] == "+442079460991"


def test_default_reject_file_goes_to_the_current_directory(crm, ndjson, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    crm("import", "contacts", str(ndjson), ok=False)
    assert (work / "people.ndjson.rejects.csv").exists()
    assert not (ndjson.parent / "people.ndjson.rejects.csv").exists()


def test_dry_run_writes_nothing(crm, ndjson, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = crm("import", "contacts", str(ndjson), "--dry-run", "--json", ok=False)
    assert r.exit_code == 11
    res = json.loads(r.stdout)
    assert res["dry_run"] and res["created"] == 3 and res["rejected"] == 3
    assert "line 3:" in r.stderr and "would make 3 created" in r.stderr
    assert crm.json("contact", "list") == []
    assert not list(tmp_path.glob("*.rejects.csv"))
    assert crm.json("import", "list") == []


def test_importing_twice_creates_nothing_new_and_a_corrected_file_updates(crm, tmp_path):
    good = _write(
        tmp_path / "good.ndjson", [r for r in RECORDS if r.get("name") not in ("", "Carla")]
    )
    crm("import", "contacts", str(good))
    again = json.loads(crm("import", "contacts", str(good), "--json").stdout)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    fixed = [{**RECORDS[0], "title": "CEO", "emails": ["ana@example.es", "ana@acme.es"]}]
    res = json.loads(
        crm("import", "contacts", str(_write(tmp_path / "fix.ndjson", fixed)), "--json").stdout
    )
    assert (res["created"], res["updated"]) == (0, 1)
    ana = crm.json("contact", "show", "ana@example.es")
    assert ana["title"] == "CEO" and [e["value"] for e in ana["emails"]] == [
        "ana@example.es",
        "ana@acme.es",
    ]
    assert len(crm.json("contact", "list")) == 3


def test_on_duplicate_policies(crm, tmp_path):
    crm("contact", "add", "Ana García", "--email", "ana@example.es", "--title", "CTO")
    row = [{"name": "Ana G.", "emails": ["ana@example.es"], "title": "CEO", "city": "Madrid"}]
    f = _write(tmp_path / "a.ndjson", row)
    assert (
        json.loads(crm("import", "contacts", str(f), "--on-duplicate", "skip", "--json").stdout)[
            "unchanged"
        ]
        == 1
    )
    crm("import", "contacts", str(f), "--on-duplicate", "merge")
    ana = crm.json("contact", "show", "ana@example.es")
    assert ana["title"] == "CTO" and ana["city"] == "Madrid" and ana["name"] == "Ana García"
    crm("import", "contacts", str(f))  # update: the file's values win
    ana = crm.json("contact", "show", "ana@example.es")
    assert ana["title"] == "CEO" and ana["name"] == "Ana G."
    crm("import", "contacts", str(f), "--on-duplicate", "create")
    assert len(crm.json("contact", "list")) == 2
    crm.fails("import", "contacts", str(f), "--on-duplicate", "sometimes", code=1)


def test_rows_of_one_file_that_are_the_same_person_make_one_contact(crm, tmp_path):
    rows = [{"name": "Bob", "emails": ["bob@example.com"]},
            {"name": "Bob Stone", "emails": ["BOB@example.com"], "title": "CTO"}]  # fmt: skip
    res = json.loads(
        crm("import", "contacts", str(_write(tmp_path / "b.ndjson", rows)), "--json").stdout
    )
    assert (res["created"], res["updated"]) == (1, 1)
    (bob,) = crm.json("contact", "list")
    assert bob["name"] == "Bob Stone" and bob["title"] == "CTO"


def test_revert_an_import_that_is_not_the_last_change(crm, tmp_path):
    crm("contact", "add", "Ana García", "--email", "ana@example.es")
    f = _write(tmp_path / "a.ndjson", [{"name": "Ana", "emails": ["ana@example.es"], "title": "CEO"},
                                        {"name": "Eva", "emails": ["eva@example.es"]}])  # fmt: skip
    crm("import", "contacts", str(f))
    crm("contact", "add", "Zoe", "--email", "zoe@example.es")  # a later, unrelated change
    (imp,) = crm.json("import", "list")
    out = crm("import", "revert", str(imp["id"])).stdout
    assert "reverted import" in out
    names = sorted(c["name"] for c in crm.json("contact", "list"))
    assert names == ["Ana García", "Zoe"]
    assert crm.json("contact", "show", "ana@example.es")["title"] is None
    assert crm.json("import", "list")[0]["state"].startswith("reverted")
    crm.fails("import", "revert", str(imp["id"]), code=1)  # already reverted
    crm.fails("import", "revert", "99", code=3)


def test_revert_refuses_over_later_changes_unless_forced(crm, tmp_path):
    f = _write(tmp_path / "a.ndjson", [{"name": "Eva", "emails": ["eva@example.es"]}])
    crm("import", "contacts", str(f))
    crm("contact", "edit", "eva@example.es", "--title", "CFO")
    err = crm.fails("import", "revert", "1", code=1)
    assert "contact edit" in err.stderr
    crm("import", "revert", "1", "--force")
    assert crm.json("contact", "list") == []


def test_bad_files_are_clear_errors(crm, tmp_path):
    crm.fails("import", "contacts", str(tmp_path / "missing.csv"), code=3)
    crm.fails("import", "contacts", str(tmp_path), code=3)
    empty = tmp_path / "e.json"
    empty.write_text("{not json", encoding="utf-8")
    crm.fails("import", "contacts", str(empty), code=1)
    crm.fails("import", "contacts", str(empty), "--format", "xls", code=1)


def _processes_reading(path) -> list[int]:
    """Pids whose command line names this file (Linux /proc)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(path).encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


def test_killed_import_keeps_whole_batches_rerun_finishes_and_revert_removes_it(crm, tmp_path):
    n = 3000
    f = _write(tmp_path / "many.ndjson",
               [{"name": f"Persona {i}", "emails": [f"p{i}@example.es"]} for i in range(n)])  # fmt: skip
    db = os.environ["CRM_DB"]
    crm("contact", "add", "Before", "--email", "before@example.es")
    cmd = [sys.executable, "-m", "crm_cli", "import", "contacts", str(f), "--batch", "50",
           "--rejects", str(tmp_path / "r.csv")]  # fmt: skip
    p = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 300:
        try:
            with sqlite3.connect(db, timeout=5) as c:
                done = c.execute("SELECT coalesce(max(created), 0) FROM imports").fetchone()[0]
        except sqlite3.OperationalError:
            pass
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    # The validation worker goes with it (no orphan holding the database open).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _processes_reading(f):
        time.sleep(0.05)
    assert not _processes_reading(f)
    with sqlite3.connect(db) as c:
        count = c.execute("SELECT count(*) FROM contacts").fetchone()[0] - 1
        emails = c.execute("SELECT count(*) FROM emails").fetchone()[0] - 1
    assert 0 < count < n and count % 50 == 0 and emails == count  # whole batches, nothing torn
    (imp,) = crm.json("import", "list")
    assert imp["state"] == "interrupted"
    # Running the same command again finishes the job without duplicates.
    crm("import", "contacts", str(f), "--rejects", str(tmp_path / "r2.csv"))
    assert len(crm.json("contact", "list")) == n + 1
    # And the partial import can be reverted on its own.
    crm("import", "revert", str(imp["id"]))
    assert len(crm.json("contact", "list")) == n + 1 - count


def test_import_orgs_matches_by_system_id_then_name(crm, tmp_path):
    rows = [{"name": "Acme SL", "domain": "acme.es", "external_id": "ACC1", "phones": ["+34 963 123 456"]},
            {"name": "Brightside", "industry": "software", "tags": ["key"], "fields": {"employees": "40"}},
            {"name": ""}]  # fmt: skip
    f = _write(tmp_path / "o.ndjson", rows)
    r = crm(
        "import",
        "orgs",
        str(f),
        "--system",
        "sf",
        "--json",
        "--rejects",
        str(tmp_path / "r.csv"),
        ok=False,
    )
    assert r.exit_code == 11 and json.loads(r.stdout)["created"] == 2
    b = crm.json("org", "show", "Brightside")
    assert (
        b["industry"] == "software" and b["tags"] == ["key"] and b["custom"] == {"employees": "40"}
    )
    renamed = _write(
        tmp_path / "o2.ndjson",
        [{"name": "Acme Spain SL", "external_id": "ACC1", "city": "Valencia"}],
    )
    res = json.loads(crm("import", "orgs", str(renamed), "--system", "sf", "--json").stdout)
    assert (res["created"], res["updated"]) == (0, 1)  # the same organization, by its Salesforce id
    assert crm.json("org", "show", "Acme Spain SL")["city"] == "Valencia"


def test_rows_without_keys_are_told_apart_by_everything_they_say(crm, tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("Name,Email,Phone,Zip,Loyalty ID\nJohn Smith,,,02110,0001\nJohn Smith,,,90210,0002\n",
                 encoding="utf-8")  # fmt: skip
    res = json.loads(crm("import", "contacts", str(f), "--json").stdout)
    assert res["created"] == 2
    zips = sorted(c["postal_code"] for c in crm.json("contact", "list"))
    assert zips == ["02110", "90210"]
    again = json.loads(crm("import", "contacts", str(f), "--json").stdout)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_a_row_whose_keys_point_at_two_contacts_is_rejected(crm, tmp_path):
    crm("contact", "add", "Ann One", "-e", "ann@x.com")
    crm("contact", "add", "Bob Two", "-e", "bob@x.com")
    f = tmp_path / "m.csv"
    f.write_text('Name,Email,City\nMerged Person,"ann@x.com;bob@x.com",Rome\n', encoding="utf-8")
    r = crm("import", "contacts", str(f), "--rejects", str(tmp_path / "r.csv"), ok=False)
    assert r.exit_code == 1  # nothing imported
    (row,) = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert "several contacts" in row["reason"] and "merge" in row["reason"]
    assert crm.json("contact", "show", "ann@x.com")["name"] == "Ann One"


def test_import_option_errors_fail_once(crm, tmp_path, ndjson):
    crm.fails("import", "activities", str(ndjson), code=1)  # calendars only
    crm.fails("import", "orders", str(ndjson), "--lines", str(tmp_path / "nofile.csv"), code=3)
    err = crm.fails("import", "contacts", str(ndjson), "--stage-map", "warm=hot", code=1)
    assert "hot" in err.stderr and "lead" in err.stderr


def test_a_dry_run_blocks_no_other_writer(crm, tmp_path):
    f = _write(tmp_path / "many.ndjson",
               [{"name": f"P {i}", "emails": [f"p{i}@example.es"]} for i in range(30000)])  # fmt: skip
    crm("contact", "add", "Before")
    p = subprocess.Popen(
        [sys.executable, "-m", "crm_cli", "import", "contacts", str(f), "--dry-run", "--batch", "100"],
        env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    t0 = time.monotonic()
    crm("contact", "add", "Meanwhile")
    waited = time.monotonic() - t0
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert waited < 1.0 and "would make 30000 created" in err
    assert sorted(c["name"] for c in crm.json("contact", "list")) == ["Before", "Meanwhile"]


# ---------------------------------------------------------------- the import's fast paths


def test_cells_with_line_breaks_and_tabs_become_one_line_fields(crm, tmp_path):
    f = tmp_path / "multi.csv"
    f.write_text('name,email,street,title\n"Ana\nGarcía",ana@example.es,"Calle Mayor 1\r\n2º B","Head\tof sales"\n'
                 "Bob,bob@example.com,Main St 1,CTO\n", encoding="utf-8")  # fmt: skip
    crm("import", "contacts", str(f), "--rejects", str(tmp_path / "r.csv"))
    rows = {c["name"]: c for c in crm.json("contact", "list")}
    assert rows["Ana, García"]["street"] == "Calle Mayor 1, 2º B"
    assert rows["Ana, García"]["title"] == "Head of sales"
    assert rows["Bob"]["street"] == "Main St 1"


def test_org_names_with_an_accented_first_letter_are_matched_in_any_case(crm, tmp_path):
    from crm_cli.storage import orgs as org_store
    from crm_cli.storage.db import open_db

    crm("org", "add", "Ávila Construcciones")
    crm("org", "add", "Émile & Co")
    f = tmp_path / "people.csv"
    f.write_text("name,email,company\nAna,ana@example.es,ÁVILA CONSTRUCCIONES\n"
                 "Bea,bea@example.es,ávila construcciones\nCris,cris@example.es,émile & co\n"
                 "Dan,dan@example.es,Ñandú SA\n", encoding="utf-8")  # fmt: skip
    crm("import", "contacts", str(f), "--rejects", str(tmp_path / "r.csv"))
    orgs = {o["name"]: o["people_count"] for o in crm.json("org", "list")}
    assert orgs == {"Ávila Construcciones": 2, "Émile & Co": 1, "Ñandú SA": 1}
    # Both ways of looking names up agree: one by one (few names, many organizations) and
    # one read of every name (many names).
    db = open_db(tmp_path / "crm.db")
    try:
        for i in range(1000):
            db.conn.execute(
                "INSERT INTO orgs (name, custom, created_at, updated_at) VALUES (?, '{}', 'x', 'x')",
                (f"Filler {i}",),
            )
        wanted = ["ávila CONSTRUCCIONES", "ÉMILE & CO", "Ñandú sa", "Ölfabrik"]
        one_by_one = org_store.ids_by_names(db, wanted)
        assert {n for _, n in one_by_one} == {"Ñandú SA", "Ávila Construcciones", "Émile & Co"}
        many = org_store.ids_by_names(db, wanted + [f"Ünknown {i}" for i in range(10)])
        assert sorted(many) == sorted(one_by_one)
    finally:
        db.close()


def test_config_is_read_once_inside_frozen_and_again_after(tmp_path):
    from crm_cli import config

    path = config.config_path()
    path.write_text('[phone]\nregion = "ES"\n', encoding="utf-8")
    assert config.get("phone.region") == "ES"
    with config.frozen():
        path.write_text(
            '[phone]\nregion = "GB"\n# a longer file, another mtime\n', encoding="utf-8"
        )
        os.utime(path, ns=(1, 1))
        assert config.get("phone.region") == "ES"
    assert config.get("phone.region") == "GB"
