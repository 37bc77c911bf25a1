"""crm db backup / restore / check / stats: copies under a live writer, restores that keep
what they replace, and a check that names every kind of damage."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crm_cli import cli
from crm_cli.storage import migrations


@pytest.fixture(autouse=True)
def db_command(monkeypatch):
    """Register `crm db` for these tests if cli.py does not list it yet."""
    if "db" not in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, "db", ("crm_cli.commands.db", "app"))


def _db(isolated) -> Path:
    return isolated / "crm.db"


def _add(crm, *args) -> int:
    return int(crm("contact", "add", *args).stdout.strip())


def _sql(path: Path, *statements: str, fk: bool = False) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA foreign_keys = {'ON' if fk else 'OFF'}")
    for s in statements:
        conn.execute(s)
    conn.close()


def _check(crm, *args):
    r = crm("db", "check", "--json", *args, ok=False)
    assert r.exit_code in (0, 10), (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr
    return r.exit_code, json.loads(r.stdout)


def _seed_data(crm) -> None:
    """A database made through the CLI: the demo, then adds, edits, a call, a deal move,
    a delete and an undo."""
    crm("demo")
    a = _add(crm, "Ana García", "--email", "ana@example.es", "--tag", "vip", "--org", "Óptica Sol")
    crm("contact", "edit", str(a), "--title", "CEO", "--add-email", "work=ana@sol.es")
    b = _add(crm, "Bob Stone", "--email", "bob@example.com")
    crm("log", "call", "intro", "--contact", str(b), "--duration", "15m")
    deal = int(crm("deal", "add", "Lenses", "--contact", str(a), "--amount", "1200 EUR").stdout)
    crm("deal", "move", str(deal), "proposal")
    crm("contact", "delete", str(b), "--yes", "--cascade")
    _add(crm, "Carla", "--phone", "+34 600 123 456")
    crm("undo")  # the add of Carla


# -- check ---------------------------------------------------------------------------


def test_check_clean_cli_database(crm):
    _seed_data(crm)
    code, report = _check(crm)
    assert code == 0 and report["ok"] and report["total"] == 0, report["findings"]
    assert report["findings"] == [] and report["counts"] == {}
    assert {"contacts", "emails", "orgs", "users", "deals", "pipelines"} <= set(
        report["logged_tables"]
    )
    assert "search_fts" in report["outside_log"] and "changes" in report["outside_log"]
    assert report["rows_checked"] > 100 and report["skipped"] == []
    r = crm("db", "check")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr.startswith("ok: ")


def test_check_fresh_database(crm):
    _add(crm, "Ana")
    code, report = _check(crm)
    assert code == 0 and report["ok"], report["findings"]


def test_check_names_the_default_pipeline_seeded_without_a_record(crm, isolated):
    """Databases from before m012 hold the m002 seed with no log record: a category of its own."""
    _add(crm, "Ana")
    _sql(_db(isolated), "DELETE FROM changes WHERE table_name IN ('pipelines', 'stages')")
    code, report = _check(crm)
    assert code == 10
    seed = sorted((f["table"], f["row_id"]) for f in report["findings"])
    assert seed == [("pipelines", 1), *[("stages", i) for i in range(1, 5)]]
    assert set(report["counts"]) == {"log.unlogged_seed"}


def _first_contact(crm) -> int:
    return _add(crm, "Ana García", "--email", "ana@example.es", "--org", "Acme SL", "--tag", "vip")


@pytest.mark.parametrize(
    "damage, check, table, also",
    [
        ("UPDATE contacts SET name = 'Eve' WHERE id = {cid}", "log.mismatch", "contacts",
         {"fts.stale"}),
        ("UPDATE emails SET value = 'eve@example.es' WHERE contact_id = {cid}", "log.mismatch",
         "emails", {"fts.stale"}),
        ("UPDATE contacts SET updated_at = 'x' WHERE id = {cid}", "log.mismatch", "contacts", set()),
        ("DELETE FROM contact_tags WHERE contact_id = {cid}", "log.missing", "contact_tags",
         {"fts.stale"}),
        ("INSERT INTO teams (name, created_at) VALUES ('ghosts', '2026-01-01T00:00:00Z')",
         "log.unlogged", "teams", set()),
        ("DELETE FROM search_fts WHERE rowid = {cid} * 2", "fts.missing", "contacts", set()),
        ("INSERT INTO search_fts (rowid, kind, ref_id, name) VALUES (998, 'contact', 499, 'x')",
         "fts.stray", "search_fts", set()),
        ("UPDATE search_fts SET tags = 'gold' WHERE rowid = {cid} * 2", "fts.stale", "contacts",
         set()),
        ("UPDATE search_fts_content SET c2 = 'zzz' WHERE id = {cid} * 2", "fts.integrity",
         "search_fts", {"fts.stale"}),
        ("UPDATE contacts SET activity_count = 7 WHERE id = {cid}", "derived.stale", "contacts",
         set()),
        ("UPDATE orgs SET name_fold = 'wrong'", "derived.stale", "orgs", set()),
        ("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'contacts'", "ids.counter", "contacts",
         set()),
        ("INSERT INTO changes (set_id, table_name, row_id, op, before, after)"
         " VALUES (1, 'contacts', {cid}, 'update', NULL, '{{\"id\": {cid}}}')", "log.malformed",
         "contacts", {"log.mismatch"}),
        ("INSERT INTO changes (set_id, table_name, row_id, op, before, after)"
         " VALUES (1, 'contacts', {cid}, 'insert', NULL, '{{\"id\": {cid}}}')", "log.sequence",
         "contacts", {"log.mismatch"}),
    ],
)  # fmt: skip
def test_check_names_damage(crm, isolated, damage, check, table, also):
    cid = _first_contact(crm)
    _sql(_db(isolated), damage.format(cid=cid))
    code, report = _check(crm)
    assert code == 10 and not report["ok"]
    found = [f for f in report["findings"] if f["check"] == check]
    assert found and found[0]["table"] == table, report["findings"]
    assert report["counts"][check] == len(found)
    others = {f["check"] for f in report["findings"]} - {check}
    assert others == also, report["findings"]
    text = crm("db", "check", ok=False)
    assert text.exit_code == 10
    assert any(line.startswith(check + "  ") for line in text.stdout.splitlines()), text.stdout
    assert "finding" in text.stdout.splitlines()[-1]


def test_check_mismatch_names_the_values(crm, isolated):
    cid = _first_contact(crm)
    _sql(_db(isolated), f"UPDATE contacts SET name = 'Eve', title = 'CFO' WHERE id = {cid}")
    _, report = _check(crm)
    (f,) = [f for f in report["findings"] if f["check"] == "log.mismatch"]
    assert f["row_id"] == cid and "name" in f["detail"] and "title" in f["detail"]
    assert '"Ana García"' in f["detail"] and '"Eve"' in f["detail"]


def test_check_row_deleted_by_log_but_present(crm, isolated):
    cid = _add(crm, "Ana")
    crm("contact", "delete", str(cid), "--yes")
    _sql(
        _db(isolated),
        f"INSERT INTO contacts (id, name, created_at, updated_at) VALUES ({cid}, 'Ana',"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    _, report = _check(crm)
    assert [f["row_id"] for f in report["findings"] if f["check"] == "log.deleted_present"] == [cid]


def test_check_dangling_foreign_key(crm, isolated):
    _first_contact(crm)
    _sql(
        _db(isolated),
        "INSERT INTO emails (contact_id, value) VALUES (999, 'ghost@example.com')",
    )
    code, report = _check(crm)
    assert code == 10
    fk = [f for f in report["findings"] if f["check"] == "foreign_key"]
    assert len(fk) == 1 and fk[0]["table"] == "emails"
    assert "contact_id = 999" in fk[0]["detail"] and "contacts" in fk[0]["detail"]
    # the row was also made behind the log's back
    assert any(f["check"] == "log.unlogged" and f["table"] == "emails" for f in report["findings"])


def test_check_lists_a_limited_number_but_counts_all(crm, isolated):
    _add(crm, "Ana")
    _sql(
        _db(isolated),
        *[
            f"INSERT INTO teams (name, created_at) VALUES ('t{i}', '2026-01-01T00:00:00Z')"
            for i in range(25)
        ],
    )
    _, report = _check(crm)
    assert report["counts"]["log.unlogged"] == 25
    assert len([f for f in report["findings"] if f["check"] == "log.unlogged"]) == 20
    _, everything = _check(crm, "--all")
    assert len([f for f in everything["findings"] if f["check"] == "log.unlogged"]) == 25


def test_check_pending_and_unknown_migrations(crm, isolated):
    _add(crm, "Ana")
    _sql(
        _db(isolated),
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('crm', 'm999_future', 'x')",
        f"DELETE FROM _sqlite_migrations WHERE name = '{migrations.MIGRATIONS[-1][0]}'",
    )
    code, report = _check(crm)
    assert code == 10
    kinds = {f["check"]: f["detail"] for f in report["findings"]}
    assert "m999_future" in kinds["migrations.unknown"]
    assert migrations.MIGRATIONS[-1][0] in kinds["migrations.pending"]
    # the check does not migrate the file it looks at
    conn = sqlite3.connect(_db(isolated))
    assert conn.execute(
        "SELECT count(*) FROM _sqlite_migrations WHERE name = ?", (migrations.MIGRATIONS[-1][0],)
    ).fetchone() == (0,)


def test_check_file_that_is_not_a_database(crm, isolated):
    _db(isolated).write_bytes(b"this is not SQLite\n" * 500)
    r = crm.fails("db", "check", code=1)
    assert "not a database" in r.stderr


def test_check_damaged_pages(crm, isolated):
    for i in range(60):
        _add(crm, f"Person {i}", "--email", f"p{i}@example.com", "--tag", "t")
    path = _db(isolated)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'contacts_name'"
    ).fetchone()
    conn.close()
    with open(path, "r+b") as f:  # scribble over an index page
        f.seek((root[0] - 1) * page + 8)
        f.write(os.urandom(page - 16))
    r = crm("db", "check", ok=False)
    assert r.exit_code in (1, 10), (r.exit_code, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    if r.exit_code == 10:
        assert any(line.startswith("integrity  ") for line in r.stdout.splitlines()), r.stdout
    else:
        assert r.stderr.startswith("crm: error: ")


def test_check_missing_database(crm, isolated):
    crm.fails("db", "check", code=3)
    assert not _db(isolated).exists()


# -- backup --------------------------------------------------------------------------


def test_backup_default_name_and_json(crm, isolated):
    _add(crm, "Ana", "--email", "ana@example.es")
    path = Path(crm("db", "backup").stdout.strip())
    # CRM_NOW is 2026-03-10T09:00:00+01:00: the name is in UTC
    assert path == isolated / "backups" / "crm-20260310T080000Z.db"
    second = crm.json("db", "backup")
    assert second["path"] == str(isolated / "backups" / "crm-20260310T080000Z-2.db")
    assert second["bytes"] == Path(second["path"]).stat().st_size > 0
    assert second["tables"]["contacts"] == 1 and second["tables"]["emails"] == 1
    assert second["seconds"] >= 0
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert conn.execute("SELECT name FROM contacts").fetchall() == [("Ana",)]


def test_backup_to_directory_and_file(crm, isolated, tmp_path):
    _add(crm, "Ana")
    out = tmp_path / "elsewhere"
    out.mkdir()
    p = Path(crm("db", "backup", str(out)).stdout.strip())
    assert p.parent == out and p.name.startswith("crm-2026")
    f = out / "mine.db"
    assert crm("db", "backup", str(f)).stdout.strip() == str(f)
    before = f.stat().st_mtime_ns
    r = crm.fails("db", "backup", str(f), code=1)
    assert "already exists" in r.stderr and f.stat().st_mtime_ns == before
    crm.fails("db", "backup", str(tmp_path / "missing" / "x.db"), code=1)
    crm.fails("db", "backup", str(tmp_path / "nowhere") + "/", code=1)


def test_backup_keep_rotation(crm, isolated, monkeypatch, tmp_path):
    _add(crm, "Ana")
    out = tmp_path / "bk"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "crm-manual.db").write_text("mine too")
    made = []
    for hour in (9, 10, 11, 12):
        monkeypatch.setenv("CRM_NOW", f"2026-03-10T{hour:02d}:00:00+01:00")
        r = crm.json("db", "backup", str(out), "--keep", "2")
        made.append(Path(r["path"]))
    left = sorted(p.name for p in out.iterdir())
    assert left == [
        "crm-20260310T100000Z.db",
        "crm-20260310T110000Z.db",
        "crm-manual.db",
        "notes.txt",
    ]
    assert r["removed"] == [str(made[1])]
    crm.fails("db", "backup", str(out), "--keep", "0", code=2)


def test_backup_does_not_wait_for_a_writer(crm, isolated):
    _add(crm, "Ana")
    holder = sqlite3.connect(_db(isolated), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO teams (name, created_at) VALUES ('pending', 'x')")
    try:
        t0 = time.monotonic()
        r = crm.json("db", "backup")
        assert time.monotonic() - t0 < 3
    finally:
        holder.execute("ROLLBACK")
    conn = sqlite3.connect(f"file:{r['path']}?immutable=1", uri=True)
    assert conn.execute("SELECT count(*) FROM teams").fetchone() == (0,)  # not committed


def test_restore_and_check_under_a_held_write_lock(crm, isolated, monkeypatch):
    from crm_cli.storage import maintenance as store

    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 300)
    holder = sqlite3.connect(_db(isolated), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = crm.fails("db", "restore", backup, "--yes", "--force", code=4)
        assert "locked" in r.stderr
        r = crm("db", "check", ok=False)  # everything but FTS5's own check, which says so
        assert (
            r.exit_code in (0, 10) and "not checked: search_fts's own integrity-check" in r.stderr
        )
    finally:
        holder.execute("ROLLBACK")
    assert not list(isolated.glob("crm.db.replaced-*"))


def test_backup_missing_database(crm, isolated):
    crm.fails("db", "backup", code=3)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from crm_cli.domain import contacts
    from crm_cli.domain.session import open_session
    db = open_session(sys.argv[1], actor="tester")
    stop = Path(sys.argv[2])
    i = 0
    while not stop.exists() and i < 2000:
        contacts.add(db, f"Writer {i}", emails=[f"w{i}@example.com"], tags=["w"])
        i += 1
    print(i)
""")


def test_backup_while_another_process_writes(crm, isolated):
    for i in range(30):
        _add(crm, f"Before {i}", "--email", f"b{i}@example.com")
    db = _db(isolated)
    stop = isolated / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        conn = sqlite3.connect(db)
        while conn.execute("SELECT count(*) FROM contacts").fetchone()[0] < 40:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        conn.close()
        copies = [Path(crm.json("db", "backup")["path"]) for _ in range(3)]
    finally:
        stop.touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    written = int(out)
    sizes = []
    for copy in copies:
        r = crm("--db", str(copy), "db", "check", "--json", ok=False)
        report = json.loads(r.stdout)
        assert report["ok"], report["findings"]
        conn = sqlite3.connect(f"file:{copy}?immutable=1", uri=True)
        n = conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
        assert n == conn.execute("SELECT count(*) FROM emails").fetchone()[0]
        assert (
            n
            == conn.execute(
                "SELECT count(*) FROM change_sets WHERE label LIKE 'contact add%'"
            ).fetchone()[0]
        )
        sizes.append(n)
    assert 40 <= sizes[0] <= sizes[-1] <= 30 + written


# -- restore -------------------------------------------------------------------------


def test_restore_round_trip_keeps_the_replaced_file(crm, isolated, monkeypatch):
    ana = _add(crm, "Ana", "--email", "ana@example.es")
    backup = crm("db", "backup").stdout.strip()
    monkeypatch.setenv("CRM_NOW", "2026-03-11T09:00:00+01:00")
    crm("contact", "edit", str(ana), "--title", "CEO")
    _add(crm, "Bob")
    # the database is newer than the backup: refused without --force
    r = crm.fails("db", "restore", backup, "--yes", code=1)
    assert "newer than the backup" in r.stderr and "--force" in r.stderr
    assert len(crm.json("contact", "list")) == 2
    # without --yes and no terminal to ask on: refused
    crm.fails("db", "restore", backup, "--force", code=1)
    r = crm("db", "restore", backup, "--force", "--yes")
    kept = Path(r.stdout.strip())
    assert kept.name == "crm.db.replaced-20260311T080000Z" and kept.parent == isolated
    assert f"kept at {kept}" in r.stderr
    people = crm.json("contact", "list")
    assert [p["name"] for p in people] == ["Ana"] and people[0]["title"] is None
    conn = sqlite3.connect(f"file:{kept}?immutable=1", uri=True)
    assert [r[0] for r in conn.execute("SELECT name FROM contacts ORDER BY id")] == ["Ana", "Bob"]
    _, report = _check(crm)
    assert report["ok"], report["findings"]
    # the database now equals the backup: restoring it again needs no --force
    again = crm("db", "restore", backup, "--yes")
    assert again.exit_code == 0 and Path(again.stdout.strip()).name.startswith("crm.db.replaced-")


def test_restore_an_older_backup_after_undo_is_not_newer(crm, isolated, monkeypatch):
    _add(crm, "Ana")
    monkeypatch.setenv("CRM_NOW", "2026-03-11T09:00:00+01:00")
    _add(crm, "Bob")
    later = crm("db", "backup").stdout.strip()
    monkeypatch.setenv("CRM_NOW", "2026-03-10T10:00:00+01:00")
    # the live database's last change (the undo) is older than the backup's
    _sql(_db(isolated), "UPDATE change_sets SET created_at = '2026-03-10T09:30:00Z',"
         " finished_at = '2026-03-10T09:30:00Z'")  # fmt: skip
    crm("db", "restore", later, "--yes")
    assert len(crm.json("contact", "list")) == 2


def test_restore_into_a_new_path(crm, isolated, tmp_path):
    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()
    new = tmp_path / "restored.db"
    r = crm("--db", str(new), "db", "restore", backup)
    assert r.stdout == ""  # nothing replaced, nothing asked
    assert [c["name"] for c in crm.json("--db", str(new), "contact", "list")] == ["Ana"]


def test_restore_refuses_what_is_not_a_good_crm_backup(crm, isolated, tmp_path):
    _add(crm, "Ana")
    text = tmp_path / "notes.db"
    text.write_text("hello\n" * 1000)
    r = crm.fails("db", "restore", str(text), "--yes", "--force", code=1)
    assert "not a database" in r.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    r = crm.fails("db", "restore", str(other), "--yes", "--force", code=1)
    assert "not a crm database" in r.stderr
    crm.fails("db", "restore", str(tmp_path / "missing.db"), "--yes", code=3)
    backup = Path(crm("db", "backup").stdout.strip())
    _sql(
        backup,
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('crm', 'm999_future', 'x')",
    )
    r = crm.fails("db", "restore", str(backup), "--yes", "--force", code=1)
    assert "newer crm" in r.stderr and "m999_future" in r.stderr
    crm.fails("db", "restore", str(_db(isolated)), "--yes", "--force", code=1)
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana"]
    assert not list(isolated.glob("crm.db.replaced-*"))


def test_restore_refuses_a_damaged_backup(crm, isolated):
    for i in range(40):
        _add(crm, f"P{i}", "--email", f"p{i}@example.com")
    backup = Path(crm("db", "backup").stdout.strip())
    conn = sqlite3.connect(f"file:{backup}?immutable=1", uri=True)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'contacts'").fetchone()[0]
    conn.close()
    with open(backup, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\xff" * page)
    r = crm.fails("db", "restore", str(backup), "--yes", "--force", code=1)
    assert "damaged" in r.stderr or "malformed" in r.stderr or "not a database" in r.stderr
    assert len(crm.json("contact", "list")) == 40


def test_restore_migrates_an_older_schema(crm, isolated, monkeypatch):
    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()

    def m999_extra(conn):
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m999_extra", m999_extra)]
    )
    crm("contact", "list")  # the live database is migrated on open
    r = crm("db", "restore", backup, "--yes")
    assert "m999_extra" in r.stderr
    conn = sqlite3.connect(_db(isolated))
    assert conn.execute("SELECT count(*) FROM extra").fetchone() == (0,)


READER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    print(conn.execute("SELECT count(*) FROM contacts").fetchone()[0], flush=True)
    sys.stdin.readline()
    print(conn.execute("SELECT count(*) FROM contacts").fetchone()[0], flush=True)
""")


def test_restore_under_an_open_connection_of_another_process(crm, isolated):
    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()
    for name in ("Bob", "Carla"):
        _add(crm, name)
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(_db(isolated))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "3"
        crm("db", "restore", backup, "--force", "--yes")
        out, err = proc.communicate("\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.strip() == "1", err  # the other process sees the restored content
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana"]


def test_restore_refused_under_the_lock_leaves_everything(crm, isolated, monkeypatch):
    """A write that lands between the plan and the lock is seen under the lock."""
    from crm_cli.domain import maintenance

    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()
    plan = maintenance.plan_restore(None, backup)
    assert plan.newer is None
    monkeypatch.setenv("CRM_NOW", "2026-03-12T09:00:00+01:00")
    _add(crm, "Bob")  # after the plan
    with pytest.raises(Exception, match="newer than the backup"):
        maintenance.restore(plan)
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana", "Bob"]
    assert not list(isolated.glob("crm.db.replaced-*"))
    assert not [p for p in isolated.iterdir() if p.name.startswith(".")]


def test_restore_over_a_file_that_is_not_a_database(crm, isolated):
    _add(crm, "Ana")
    backup = crm("db", "backup").stdout.strip()
    _db(isolated).write_bytes(b"garbage" * 1000)
    crm.fails("db", "restore", backup, "--yes", code=1)  # cannot tell which is newer
    r = crm("db", "restore", backup, "--yes", "--force")
    kept = Path(r.stdout.strip())
    assert kept.read_bytes().startswith(b"garbage")
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ana"]


def test_restore_over_a_damaged_database(crm, isolated):
    for i in range(40):
        _add(crm, f"P{i}", "--email", f"p{i}@example.com")
    backup = crm("db", "backup").stdout.strip()
    path = _db(isolated)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:  # the schema page: nothing can be read
        f.seek(100)
        f.write(b"\xff" * (page - 100))
    r = crm.fails("db", "restore", backup, "--yes", code=1)
    assert "cannot be read" in r.stderr and "--force" in r.stderr
    r = crm("db", "restore", backup, "--yes", "--force")
    assert Path(r.stdout.strip()).exists()
    assert len(crm.json("contact", "list")) == 40
    code, report = _check(crm)
    assert report["ok"], report["findings"]


# -- stats ---------------------------------------------------------------------------


def test_stats(crm, isolated):
    for name in ("Ana", "Bob", "Carla"):
        _add(crm, name, "--email", f"{name.lower()}@example.com")
    s = crm.json("db", "stats")
    assert s["path"] == str(_db(isolated))
    assert s["tables"]["contacts"] == 3 and s["tables"]["emails"] == 3
    assert "search_fts" not in s["tables"] and "search_fts_data" not in s["tables"]
    assert s["search_indexes"]["search_fts"]["rows"] == 3
    assert s["search_indexes"]["search_fts"]["shadow_tables"] == 5
    assert s["schema"]["migration"] == migrations.MIGRATIONS[-1][0]
    assert s["schema"]["applied"] == len(migrations.MIGRATIONS) and s["schema"]["pending"] == []
    assert s["last_change"]["label"] == "contact add Carla"
    assert (
        s["last_change"]["actor"] == "tester" and s["last_change"]["at"] == "2026-03-10T08:00:00Z"
    )
    assert s["page_size"] == 4096 and s["page_count"] > 10 and s["journal_mode"] == "wal"
    b = s["bytes"]
    assert b["total"] == b["db"] + b["wal"] and b["db"] + b["wal"] > 0
    text = crm("db", "stats").stdout
    assert "contact add Carla" in text and "contacts" in text and str(_db(isolated)) in text
