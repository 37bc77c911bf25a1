"""The store: migrations, transactions, concurrent writers, errors at the edges."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from crm_cli.errors import Busy, InvalidInput, NotFound
from crm_cli.storage import migrations, open_db, transaction


def test_migrations_from_empty_file(tmp_path):
    db = open_db(tmp_path / "new.db")
    names = [
        r[0]
        for r in db.conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'crm' ORDER BY id"
        )
    ]
    assert names == [name for name, _ in migrations.MIGRATIONS]
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "contacts",
        "orgs",
        "emails",
        "phones",
        "contact_tags",
        "users",
        "changes",
        "change_sets",
    } <= tables
    db.close()
    again = open_db(tmp_path / "new.db")  # nothing pending: no second run
    assert migrations.pending(again.conn) == []


def test_migration_upgrades_older_database_in_place(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    open_db(path).close()

    def m999_extra(conn):
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m999_extra", m999_extra)]
    )
    db = open_db(path)
    assert (
        db.conn.execute(
            "SELECT count(*) FROM _sqlite_migrations WHERE name = 'm999_extra'"
        ).fetchone()[0]
        == 1
    )
    db.conn.execute("INSERT INTO extra (note) VALUES ('x')")


def test_failed_migration_rolls_back_everything(tmp_path, monkeypatch):
    def m999_broken(conn):
        conn.execute("CREATE TABLE half (id INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(
        migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m999_broken", m999_broken)]
    )
    with pytest.raises(RuntimeError):
        open_db(tmp_path / "x.db")
    conn = sqlite3.connect(tmp_path / "x.db")
    assert (
        conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('half', 'contacts')"
        ).fetchone()[0]
        == 0
    )


def test_concurrent_first_open_of_a_new_file(tmp_path):
    """Several processes opening the same new file at once: each migration runs exactly once."""
    path = tmp_path / "race.db"
    code = textwrap.dedent(f"""
        from crm_cli.storage import open_db
        db = open_db({str(path)!r})
        print(db.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0])
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    n = len(migrations.MIGRATIONS)
    assert {r[0].strip() for r in results} == {str(n)}


def test_concurrent_writers_all_succeed(tmp_path):
    """Writers in parallel processes queue on BEGIN IMMEDIATE: none fails, nothing is lost."""
    path = tmp_path / "w.db"
    open_db(path).close()
    code = textwrap.dedent(f"""
        import sys
        from crm_cli.domain import contacts
        from crm_cli.domain.session import open_session
        db = open_session({str(path)!r}, actor="w")
        for i in range(15):
            contacts.add(db, f"P{{sys.argv[1]}}-{{i}}", emails=[f"p{{sys.argv[1]}}.{{i}}@example.com"], tags=["t"])
    """)
    env_user = {"CRM_USER": "w"}
    import os

    env = {**os.environ, **env_user}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(k)], env=env, stderr=subprocess.PIPE, text=True
        )
        for k in range(4)
    ]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 60
    assert conn.execute("SELECT count(*) FROM emails").fetchone()[0] == 60
    assert (
        conn.execute("SELECT count(*) FROM change_sets WHERE label LIKE 'contact add%'").fetchone()[
            0
        ]
        == 60
    )
    assert conn.execute("SELECT count(*) FROM search_fts").fetchone()[0] == 60


def test_busy_database_is_a_clear_error(tmp_path, monkeypatch):
    from crm_cli.storage import db as dbmod

    path = tmp_path / "b.db"
    open_db(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", 200)
        db = open_db(path)
        db.conn.execute("PRAGMA busy_timeout = 200")
        db.actor = "x"
        with pytest.raises(Busy):
            with transaction(db, "t") as tx:
                tx.insert("teams", {"name": "a", "created_at": "2026-01-01T00:00:00Z"})
    finally:
        holder.execute("ROLLBACK")


def test_failed_command_writes_nothing(tmp_path):
    db = open_db(tmp_path / "f.db")
    db.actor = "x"
    with pytest.raises(InvalidInput):
        with transaction(db, "t") as tx:
            tx.insert("teams", {"name": "a", "created_at": "2026-01-01T00:00:00Z"})
            raise InvalidInput("no")
    assert db.conn.execute("SELECT count(*) FROM teams").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM change_sets WHERE label = 't'").fetchone()[0] == 0


def test_nested_transactions_share_one_change_set(tmp_path):
    db = open_db(tmp_path / "n.db")
    db.actor = "x"
    with transaction(db, "outer") as tx:
        tx.insert("teams", {"name": "a", "created_at": "2026-01-01T00:00:00Z"})
        with pytest.raises(InvalidInput):
            with transaction(db, "inner") as inner:
                assert inner is tx
                inner.insert("teams", {"name": "b", "created_at": "2026-01-01T00:00:00Z"})
                raise InvalidInput("inner fails")
        with transaction(db, "inner2") as inner:
            inner.insert("teams", {"name": "c", "created_at": "2026-01-01T00:00:00Z"})
    assert [r[0] for r in db.conn.execute("SELECT name FROM teams ORDER BY id")] == ["a", "c"]
    assert (
        db.conn.execute(
            "SELECT count(DISTINCT set_id) FROM changes WHERE table_name = 'teams'"
        ).fetchone()[0]
        == 1
    )


def test_paths(tmp_path):
    with pytest.raises(InvalidInput, match="directory does not exist"):
        open_db(tmp_path / "missing" / "crm.db")
    with pytest.raises(NotFound, match="no database"):
        open_db(tmp_path / "none.db", must_exist=True)
    with pytest.raises(InvalidInput, match="directory"):
        open_db(tmp_path)
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidInput, match="cannot open"):
        open_db(tmp_path / "junk.db")


def test_m002_upgrades_a_foundation_database_keeping_its_contacts(tmp_path, monkeypatch, crm):
    """A database made before m002 (contacts only) gains the operational tables in place."""
    path = tmp_path / "crm.db"
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        old = open_db(path)
        tables = {r[0] for r in old.conn.execute("SELECT name FROM sqlite_master")}
        assert "contacts" in tables and "deals" not in tables
        at = "2026-03-01T10:00:00Z"
        old.conn.execute(
            "INSERT INTO contacts (name, first_name, last_name, created_at, updated_at)"
            " VALUES ('Ana García', 'Ana', 'García', ?, ?)",
            (at, at),
        )
        old.conn.execute(
            "INSERT INTO emails (contact_id, value, is_primary) VALUES (1, 'ana@example.es', 1)"
        )
        old.close()
    c = crm.json("contact", "show", "ana@example.es")  # this open applies m002
    assert c["name"] == "Ana García" and c["activity_count"] == 0 and c["cadence_days"] is None
    crm("log", "call", "--contact", "ana@example.es")  # the first write brings the pipeline
    assert [s["name"] for s in crm.json("pipeline", "show")["stages"]] == [
        "lead", "qualified", "proposal", "negotiation",
    ]  # fmt: skip
    assert crm.json("contact", "show", "ana@example.es")["activity_count"] == 1
    crm("undo")
    assert crm.json("contact", "show", "ana@example.es")["activity_count"] == 0


def test_m011_rebuilds_emails_keeping_ids_and_statuses(tmp_path, monkeypatch):
    """The emails table is rebuilt for its new status (deferred): ids, values and statuses
    written before the upgrade survive, and the new CHECK holds."""
    path = tmp_path / "old.db"
    names = [name for name, _ in migrations.MIGRATIONS]
    upto = names.index("m011_mail_campaigns")
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:upto])
    db = open_db(path)
    with transaction(db, "seed") as tx:
        cid = tx.insert("contacts", {"name": "Ann", "created_at": tx.at, "updated_at": tx.at})
        tx.insert("emails", {"id": 7, "contact_id": cid, "value": "ann@example.com",
                             "is_primary": 1, "status": "bounced", "status_at": tx.at})  # fmt: skip
    db.close()
    monkeypatch.undo()
    db = open_db(path)
    row = db.conn.execute("SELECT id, value, status, status_reason FROM emails").fetchone()
    assert tuple(row) == (7, "ann@example.com", "bounced", None)
    db.conn.execute("UPDATE emails SET status = 'deferred' WHERE id = 7")
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("UPDATE emails SET status = 'lost' WHERE id = 7")
    indexes = {r[0] for r in db.conn.execute("SELECT name FROM pragma_index_list('emails')")}
    assert {"emails_value", "emails_contact"} <= indexes
