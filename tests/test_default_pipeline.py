"""The default pipeline: a fresh database has none until its first write creates it, in the
change log (m012 makes databases made before that alike), and a read never writes."""

from __future__ import annotations

import json
import sqlite3

from crm_cli.storage import migrations, open_db, transaction


def _sqlite(path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


def test_a_fresh_database_has_no_pipeline_until_its_first_write(crm, tmp_path, isolated):
    for args in (("pipeline", "list"), ("deal", "list"), ("report", "pipeline"),
                 ("report", "funnel"), ("report", "forecast"), ("contact", "list")):  # fmt: skip
        crm(*args)
    with _sqlite(isolated / "crm.db") as conn:  # the reads wrote nothing
        for table in ("pipelines", "stages", "users", "change_sets", "changes"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        assert (
            conn.execute(
                "SELECT count(*) FROM sqlite_sequence WHERE name IN ('pipelines', 'stages')"
            ).fetchone()[0]
            == 0
        )
    crm("contact", "add", "Ana")
    sets = crm.json("history")
    first = [s for s in sets if not s["undoable"]]
    assert len(first) == 1 and "pipeline add sales" in first[0]["label"]
    logged = [(c["table_name"], c["row_id"], c["op"]) for c in first[0]["changes"]]
    assert logged == [("users", 1, "insert"), ("pipelines", 1, "insert"),
                      *[("stages", i, "insert") for i in range(1, 5)]]  # fmt: skip
    assert first[0]["changes"][2]["after"]["name"] == "lead"
    crm("undo")  # undoes the contact, never the first-use set
    assert crm.json("pipeline", "show")["name"] == "sales"
    crm.fails("undo", str(first[0]["id"]), code=1)


def test_a_deal_as_the_first_write_finds_the_default_pipeline(crm):
    assert crm("deal", "add", "First").stdout.strip() == "1"
    assert crm.json("deal", "show", "1")["stage"] == "lead"
    crm("undo")
    assert crm.json("deal", "list") == [] and crm.json("pipeline", "list")[0]["name"] == "sales"


def test_the_board_of_a_fresh_database_is_empty_and_writes_nothing(crm, isolated):
    from crm_cli.domain.session import open_session
    from crm_cli.tui import data

    crm("pipeline", "list")  # the file exists, never written
    db = open_session(str(isolated / "crm.db"))
    board = data.board(db)
    assert board.columns == () and board.pipelines == () and "none yet" in board.pipeline
    crm("contact", "add", "Ana")
    assert [c.name for c in data.board(db, board.pipeline_id).columns][:1] == ["lead"]
    db.close()


def test_a_removed_pipeline_does_not_come_back(crm, isolated):
    """'Never had one' means: no pipeline now and none in the change log."""
    crm("contact", "add", "Ana")
    db = open_db(isolated / "crm.db")
    db.actor = "tester"
    with transaction(db, "drop pipelines") as tx:
        for sid in range(1, 5):
            tx.delete("stages", sid)
        tx.delete("pipelines", 1)
    with transaction(db, "another write") as tx:
        tx.insert("contacts", {"name": "Bob", "created_at": tx.at, "updated_at": tx.at})
    assert db.conn.execute("SELECT count(*) FROM pipelines").fetchone()[0] == 0
    db.close()


# ---------------------------------------------------------------- m012


def _pre_m012(monkeypatch):
    monkeypatch.setattr(
        migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < "m012"]
    )


def test_m012_empties_a_fresh_database_of_its_seeded_pipeline(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        _pre_m012(m)
        open_db(path).close()
    conn = _sqlite(path)
    assert conn.execute("SELECT count(*) FROM stages").fetchone()[0] == 4
    conn.close()
    db = open_db(path)
    assert db.conn.execute("SELECT count(*) FROM pipelines").fetchone()[0] == 0
    db.actor = "tester"
    with transaction(db, "x") as tx:
        tx.insert("contacts", {"name": "Ana", "created_at": tx.at, "updated_at": tx.at})
    ids = db.conn.execute("SELECT id FROM stages ORDER BY id").fetchall()
    assert [r[0] for r in ids] == [1, 2, 3, 4]  # the counters were reset with the rows
    db.close()


def test_m012_records_the_seeded_pipeline_of_a_database_with_history(tmp_path, monkeypatch):
    """Change set 0, before every other: one insert per seeded row with its values as
    seeded, so replaying the log from empty rebuilds the pipeline as it is now."""
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        _pre_m012(m)
        db = open_db(path)
        db.actor = "tester"
        with transaction(db, "rename a stage") as tx:
            tx.update("stages", 1, {"name": "nuevo"})
        db.close()
    db = open_db(path)
    rows = db.conn.execute(
        "SELECT seq, table_name, row_id, op, after FROM changes WHERE set_id = 0 ORDER BY seq"
    ).fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [("pipelines", 1, "insert"),
                                                 *[("stages", i, "insert") for i in range(1, 5)]]  # fmt: skip
    assert (
        max(r[0] for r in rows)
        < db.conn.execute("SELECT min(seq) FROM changes WHERE set_id != 0").fetchone()[0]
    )
    assert json.loads(rows[1][4])["name"] == "lead"  # as seeded, before the rename
    s0 = db.conn.execute("SELECT undoable, label FROM change_sets WHERE id = 0").fetchone()
    assert s0 == (0, "pipeline add sales (schema default)")
    # Replaying every change in order gives the rows there are now.
    state: dict[tuple[str, int], dict | None] = {}
    for table, row_id, op, after in db.conn.execute(
        "SELECT table_name, row_id, op, after FROM changes WHERE table_name IN"
        " ('pipelines', 'stages') ORDER BY seq"
    ):
        state[(table, row_id)] = None if op == "delete" else json.loads(after)
    now = {("stages", r[0]): r[1] for r in db.conn.execute("SELECT id, name FROM stages")}
    assert {k: v["name"] for k, v in state.items() if k[0] == "stages"} == now
    db.close()
