"""crm dump / crm load: the whole database as sorted JSON Lines and back, byte for byte;
and the default pipeline made by a fresh database's first write, in the change log."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli import cli
from crm_cli.domain import dump as dump_domain
from crm_cli.storage import dump as dump_store
from crm_cli.storage import migrations, open_db, transaction

REAL = Path("../shared/realdata")


def _dump(crm, db: Path | None = None) -> bytes:
    args = ["--db", str(db)] if db else []
    r = crm(*args, "dump")
    return r.stdout_bytes


def _sqlite(path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


def _round_trip(crm, tmp_path: Path, name: str = "copy.db") -> tuple[Path, bytes]:
    """Dump the test database, load the dump into a new file, dump that: the same bytes."""
    first = _dump(crm)
    stream = tmp_path / f"{name}.jsonl"
    stream.write_bytes(first)
    copy = tmp_path / name
    crm("load", str(stream), "--db", str(copy))
    assert _dump(crm, copy) == first
    # The directory form loads into the same database too.
    d = tmp_path / f"{name}.dir"
    crm("dump", "--dir", str(d))
    again = tmp_path / f"dir-{name}"
    crm("load", str(d), "--db", str(again))
    assert _dump(crm, again) == first
    return copy, first


def _same_answers(crm, copy: Path, *commands: tuple[str, ...]) -> None:
    for args in commands:
        here = crm(*args).stdout
        there = crm("--db", str(copy), *args).stdout
        assert here == there, args


READS = (
    ("contact", "list", "--json"),
    ("org", "list", "--json"),
    ("deal", "list", "--json"),
    ("history", "--json", "--limit", "1000"),
    ("pipeline", "list", "--json"),
    ("followup", "list", "--all", "--json"),
)


def _undo_alike(crm, copy: Path, tmp_path: Path) -> None:
    """crm undo does the same on both databases: their dumps stay equal after it."""
    a = crm("undo", "--json", ok=False)
    b = crm("--db", str(copy), "undo", "--json", ok=False)
    assert (a.exit_code, a.stdout) == (b.exit_code, b.stdout)
    assert _dump(crm) == _dump(crm, copy)


# ---------------------------------------------------------------- round trips


def test_demo_data_round_trips_byte_for_byte(crm, tmp_path):
    crm("demo")
    copy, first = _round_trip(crm, tmp_path)
    lines = first.decode("utf-8").splitlines()
    meta = json.loads(lines[0])
    assert meta["format"] == "crm-dump" and meta["schema"][-1] == migrations.MIGRATIONS[-1][0]
    assert meta["sequences"]["contacts"] == 63
    assert "search_fts" in meta["left_out"]["tables"] and "search_fts_data" not in meta["tables"]
    assert "name_fold" in meta["left_out"]["derived_columns"]["orgs"]
    assert "last_activity_at" not in meta["tables"]["contacts"]["columns"]
    # Rows in primary-key order, keys sorted, compact, UTF-8 as is.
    at = lines.index('{"$table":"contacts"}')
    ids = [json.loads(x)["id"] for x in lines[at + 1 : at + 64]]
    assert ids == sorted(ids)
    assert lines[at + 1] == json.dumps(
        json.loads(lines[at + 1]), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert "García" in first.decode("utf-8") or "á" in first.decode("utf-8")
    _same_answers(crm, copy, *READS, ("search", "ana", "--json"), ("search", "Acme", "--json"),
                  ("report", "rfm", "--json"), ("report", "pipeline", "--json"),
                  ("timeline", "org:\"Acme SL\"", "--json"))  # fmt: skip
    _undo_alike(crm, copy, tmp_path)
    crm("contact", "add", "Zoe New", "--email", "zoe@example.com")
    crm("--db", str(copy), "contact", "add", "Zoe New", "--email", "zoe@example.com")
    assert _dump(crm) == _dump(crm, copy)  # the same ids come next: the counters came along


def _campaign(crm, isolated: Path) -> None:
    (isolated / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n[campaign]\nfrom = "Shop <news@shop.example>"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n',
        encoding="utf-8",
    )
    crm("contact", "add", "Ann Lee", "--email", "ann@example.com", "--tag", "vip")
    crm("contact", "add", "Bob Stone", "--email", "bob@example.com", "--tag", "vip")
    crm("contact", "add", "Cy", "--tag", "vip")
    crm("segment", "add", "vips", "tag:vip")
    tpl = isolated / "t.txt"
    tpl.write_text("Hello {{ first_name | default('there') }}\n", encoding="utf-8")
    crm("campaign", "add", "spring", "--segment", "vips", "--subject", "Spring", "--template",
        str(tpl))  # fmt: skip
    crm("campaign", "send", "spring", "--outbox", str(isolated / "outbox"))


def test_imported_real_files_round_trip(crm, tmp_path, isolated):
    chinook = REAL / "csv" / "chinook"
    crm("import", "users", str(chinook / "Employee.csv"))
    crm("import", "contacts", str(chinook / "Customer.csv"))
    crm("import", "orders", str(chinook / "Invoice.csv"), "--lines",
        str(chinook / "InvoiceLine.csv"))  # fmt: skip
    crm("import", "contacts", str(REAL / "vcard" / "ez-vcard" / "John_Doe_IPHONE.vcf"))
    crm("import", "contacts", str(REAL / "csv" / "atomic-crm" / "import-sample.json"))
    r = crm("import", "mail", str(REAL / "email" / "mikel-mail" / "rfc2822"), "--create-contacts",
            ok=False)  # fmt: skip
    assert r.exit_code in (0, 11), r.stderr
    _campaign(crm, isolated)
    with _sqlite(isolated / "crm.db") as conn:
        for table in ("orders", "order_lines", "mail_messages", "campaign_recipients", "users"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
    copy, first = _round_trip(crm, tmp_path)
    assert b'{"$table":"campaign_recipients"}' in first
    _same_answers(crm, copy, *READS, ("search", "Gonçalves", "--json"),
                  ("search", "aperture", "--json"), ("report", "campaign", "spring", "--json"),
                  ("order", "list", "--json"), ("user", "list", "--json"))  # fmt: skip
    _undo_alike(crm, copy, tmp_path)


def test_the_ledger_and_counters_come_along(crm, tmp_path, isolated):
    _campaign(crm, isolated)
    crm("contact", "add", "Zed")
    crm("contact", "delete", "Zed", "--yes")  # the highest contact id is gone, its counter stays
    copy, first = _round_trip(crm, tmp_path)
    meta = json.loads(first.splitlines()[0])
    assert meta["sequences"]["contacts"] == 4
    with _sqlite(copy) as conn:
        sent = conn.execute("SELECT state, count(*) FROM campaign_recipients GROUP BY 1").fetchall()
        seq = dict(conn.execute("SELECT name, seq FROM sqlite_sequence"))
    assert dict(sent)["sent"] == 2
    assert seq["contacts"] == 4
    assert crm("--db", str(copy), "contact", "add", "Dee").stdout.strip() == "5"


def test_dump_to_a_file_and_from_stdin(crm, tmp_path):
    crm("contact", "add", "Ana García", "--email", "ana@example.es")
    out = tmp_path / "snap.jsonl"
    crm("dump", "--output", str(out))
    assert out.read_bytes() == _dump(crm)
    new = tmp_path / "new.db"
    r = crm("load", "-", "--db", str(new), input=out.read_text(encoding="utf-8"))
    assert "loaded" in r.stderr and r.stdout == ""
    assert _dump(crm, new) == out.read_bytes()
    crm.fails("dump", "--dir", str(tmp_path / "d"), "--output", str(out), code=1)
    crm.fails("--db", str(tmp_path / "missing.db"), "dump", code=3)
    assert not (tmp_path / "missing.db").exists()


# ---------------------------------------------------------------- refusals


def test_load_refuses_a_path_that_exists(crm, tmp_path):
    crm("contact", "add", "Ana")
    stream = tmp_path / "d.jsonl"
    stream.write_bytes(_dump(crm))
    target = tmp_path / "there.db"
    target.write_bytes(b"keep me")
    err = crm.fails("load", str(stream), "--db", str(target), code=1).stderr
    assert "already exists" in err
    assert target.read_bytes() == b"keep me"
    crm.fails("load", str(stream), code=1)  # no --db: nothing to create
    crm.fails("load", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "n.db"), code=1)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".db")) == ["crm.db",
                                                                                   "there.db"]  # fmt: skip


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize(
    "damage",
    ["cut_mid_line", "cut_at_line", "garbage_line", "not_a_dump", "empty", "newer_schema",
     "extra_column", "unknown_table", "missing_table", "broken_foreign_key", "duplicate_id",
     "trailing_lines", "bad_blob"],
)  # fmt: skip
def test_a_damaged_dump_is_one_error_line_and_leaves_nothing(crm, tmp_path, damage):
    crm("demo")
    lines = _dump(crm).decode("utf-8").splitlines(keepends=True)
    meta = json.loads(lines[0])
    at = lines.index('{"$table":"contacts"}\n')
    if damage == "cut_mid_line":
        text = "".join(lines)[: -len(lines[-1]) // 2 - 1]
    elif damage == "cut_at_line":
        text = "".join(lines[: at + 10])
    elif damage == "garbage_line":
        lines[at + 3] = '{"id": 3, oops\n'
        text = "".join(lines)
    elif damage == "not_a_dump":
        text = "name,email\nAna,ana@example.es\n"
    elif damage == "empty":
        text = ""
    elif damage == "newer_schema":
        meta["schema"].append("m999_future")
        text = json.dumps(meta) + "\n" + "".join(lines[1:])
    elif damage == "extra_column":
        meta["tables"]["contacts"]["columns"].append("evil")
        text = json.dumps(meta) + "\n" + "".join(lines[1:])
    elif damage == "unknown_table":
        meta["tables"]["../evil"] = {"columns": ["id"], "rows": 0}
        text = json.dumps(meta) + "\n" + "".join(lines[1:])
    elif damage == "missing_table":
        del meta["tables"]["emails"]
        text = json.dumps(meta) + "\n" + "".join(lines[1:])
    elif damage == "broken_foreign_key":
        row = json.loads(lines[at + 1])
        row["org_id"] = 999
        lines[at + 1] = json.dumps(row) + "\n"
        text = "".join(lines)
    elif damage == "duplicate_id":
        lines[at + 2] = lines[at + 1]
        text = "".join(lines)
    elif damage == "trailing_lines":
        text = "".join(lines) + '{"id":1}\n'
    else:  # bad_blob
        row = json.loads(lines[at + 1])
        row["title"] = {"$blob": "not base64!"}
        lines[at + 1] = json.dumps(row) + "\n"
        text = "".join(lines)
    d = tmp_path / "out"
    d.mkdir()
    stream = tmp_path / "damaged.jsonl"
    stream.write_text(text, encoding="utf-8")
    r = crm.fails("load", str(stream), "--db", str(d / "new.db"), code=1)
    assert "Traceback" not in r.stderr and len(r.stderr) < 400, r.stderr
    assert _leftovers(d) == []
    if damage == "newer_schema":
        assert "newer crm" in r.stderr and "m999_future" in r.stderr


def test_a_damaged_dump_directory_is_refused(crm, tmp_path):
    crm("contact", "add", "Ana", "--email", "ana@example.es")
    d = tmp_path / "snap"
    crm("dump", "--dir", str(d))
    out = tmp_path / "out"
    out.mkdir()
    (d / "emails.jsonl").unlink()
    assert "emails.jsonl" in crm.fails("load", str(d), "--db", str(out / "n.db"), code=1).stderr
    crm("dump", "--dir", str(d))
    lines = (d / "contacts.jsonl").read_text(encoding="utf-8")
    (d / "contacts.jsonl").write_text(lines[: len(lines) // 2], encoding="utf-8")
    err = crm.fails("load", str(d), "--db", str(out / "n.db"), code=1).stderr
    assert "contacts.jsonl line 1" in err
    (d / "meta.json").unlink()
    crm.fails("load", str(d), "--db", str(out / "n.db"), code=1)
    assert _leftovers(out) == []


# ---------------------------------------------------------------- directories under git


def test_a_redump_of_unchanged_data_touches_no_file(crm, tmp_path):
    crm("demo")
    d = tmp_path / "crm-dump"
    first = crm("dump", "--dir", str(d)).stderr
    assert "files written" in first
    names = sorted(p.name for p in d.iterdir())
    assert "meta.json" in names and "contacts.jsonl" in names and "changes.jsonl" in names
    assert not any(n.startswith("search_fts") or n.startswith("_sqlite") for n in names)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()}
    time.sleep(0.02)
    assert "no file changed" in crm("dump", "--dir", str(d)).stderr
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in d.iterdir()} == before
    # A change rewrites the files of the tables it touched (and meta.json: counters, counts).
    crm("contact", "edit", "1", "--title", "Jefa")
    crm("dump", "--dir", str(d))
    changed = {p.name for p in d.iterdir() if p.stat().st_mtime_ns != before[p.name][0]}
    assert changed == {"contacts.jsonl", "changes.jsonl", "change_sets.jsonl", "meta.json"}
    # The file of a table that no longer exists goes.
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    meta["tables"]["old_table"] = {"columns": ["id"], "rows": 0}
    (d / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    (d / "old_table.jsonl").write_text("", encoding="utf-8")
    (d / "notes.txt").write_text("mine", encoding="utf-8")
    crm("dump", "--dir", str(d))
    assert not (d / "old_table.jsonl").exists() and (d / "notes.txt").exists()
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_the_directory_diffs_cleanly_under_git(crm, tmp_path):
    import shutil

    if not shutil.which("git"):
        pytest.skip("no git")
    crm("demo")
    d = tmp_path / "crm-dump"
    crm("dump", "--dir", str(d))
    git = ["git", "-C", str(d), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], check=True)
    crm("dump", "--dir", str(d))
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True,
                          check=True).stdout == ""  # fmt: skip
    crm("contact", "edit", "2", "--city", "Zaragoza")
    crm("dump", "--dir", str(d))
    diff = subprocess.run([*git, "diff", "--numstat"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    touched = {line.split("\t")[2]: line.split("\t")[:2] for line in diff.splitlines()}
    assert touched["contacts.jsonl"] == ["1", "1"]  # one line changed: that contact
    assert set(touched) == {"contacts.jsonl", "changes.jsonl", "change_sets.jsonl", "meta.json"}


# ---------------------------------------------------------------- while others write

WRITER = """
import sys, time
from crm_cli.storage import open_db, transaction
db = open_db(sys.argv[1])
db.actor = "tester"
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    with transaction(db, "writer") as tx:
        cid = tx.insert("contacts", {"name": f"W{n}", "created_at": tx.at, "updated_at": tx.at})
        tx.insert("emails", {"contact_id": cid, "value": f"w{n}@example.com", "is_primary": 1})
        aid = tx.insert("activities", {"kind": "note", "occurred_at": tx.at, "created_at": tx.at,
                                       "updated_at": tx.at})
        tx.insert("activity_participants", {"activity_id": aid, "contact_id": cid,
                                            "occurred_at": tx.at})
    n += 1
print(n)
"""


def test_a_dump_taken_while_another_process_writes_is_consistent(crm, tmp_path, isolated):
    crm("demo")
    base = json.loads(_dump(crm).splitlines()[0])["tables"]
    db_path = isolated / "crm.db"
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), "6"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for _ in range(200):  # until the writer has started writing
            with _sqlite(db_path) as conn:
                if conn.execute("SELECT count(*) FROM contacts").fetchone()[0] > 63:
                    break
            time.sleep(0.05)
        dumps = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and len(dumps) < 5:
            dumps.append(_dump(crm))
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert int(out) > 10
    counts = set()
    for i, snap in enumerate(dumps):
        meta = json.loads(snap.splitlines()[0])
        t = meta["tables"]
        # Each writer transaction adds a contact, an email, an activity and a participant.
        added = {k: t[k]["rows"] - base[k]["rows"] for k in
                 ("contacts", "emails", "activities", "activity_participants")}  # fmt: skip
        assert len(set(added.values())) == 1, added
        counts.add(t["contacts"]["rows"])
        f = tmp_path / f"s{i}.jsonl"
        f.write_bytes(snap)
        new = tmp_path / f"s{i}.db"
        crm("load", str(f), "--db", str(new))  # its foreign key check passes
        assert _dump(crm, new) == snap
    assert len(counts) > 1  # the dumps did run while the writer wrote


# ---------------------------------------------------------------- older and newer schemas


def test_a_dump_from_an_older_schema_is_loaded_then_migrated(crm, tmp_path, monkeypatch):
    """A dump made before m012 loads into that schema and is migrated: the result is the
    database the same crm makes by opening the old file in place."""
    old = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", [x for x in migrations.MIGRATIONS if x[0] < "m012"])
        crm("--db", str(old), "contact", "add", "Ana", "--email", "ana@example.es")
        crm("--db", str(old), "deal", "add", "Licencias", "--contact", "ana@example.es")
        crm("--db", str(old), "pipeline", "stage", "rename", "sales", "lead", "nuevo")
        snap = tmp_path / "old.jsonl"
        snap.write_bytes(_dump(crm, old))
    meta = json.loads(snap.read_bytes().splitlines()[0])
    assert meta["schema"][-1] != migrations.MIGRATIONS[-1][0]
    new = tmp_path / "new.db"
    r = crm("load", str(snap), "--db", str(new))
    assert "migrated" in r.stderr and "m012_default_pipeline_logged" in r.stderr
    assert _dump(crm, new) == _dump(crm, old)  # this open migrates the old file in place


def test_load_refuses_a_dump_from_a_newer_crm(crm, tmp_path):
    crm("contact", "add", "Ana")
    lines = _dump(crm).splitlines(keepends=True)
    meta = json.loads(lines[0])
    meta["schema"].append("m099_someday")
    f = tmp_path / "new.jsonl"
    f.write_bytes(json.dumps(meta).encode() + b"\n" + b"".join(lines[1:]))
    err = crm.fails("load", str(f), "--db", str(tmp_path / "n.db"), code=1).stderr
    assert "newer crm" in err and "m099_someday" in err and "upgrade" in err


# ---------------------------------------------------------------- the default pipeline


def test_load_of_a_never_written_database_has_no_pipeline_and_no_user(crm, tmp_path):
    crm("pipeline", "list")
    snap = _dump(crm)
    meta = json.loads(snap.splitlines()[0])
    assert all(t["rows"] == 0 for t in meta["tables"].values())
    assert not any(meta["sequences"].values())
    f = tmp_path / "empty.jsonl"
    f.write_bytes(snap)
    new = tmp_path / "new.db"
    crm("load", str(f), "--db", str(new))
    with _sqlite(new) as conn:
        for table in ("pipelines", "users", "change_sets"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    crm("--db", str(new), "contact", "add", "Ana")  # its first write brings them, logged
    assert _dump(crm, new) == (crm("contact", "add", "Ana") and _dump(crm))


def test_load_keeps_a_dump_without_pipelines_without_them(crm, tmp_path, isolated):
    crm("contact", "add", "Ana")
    db = open_db(isolated / "crm.db")
    db.actor = "tester"
    with transaction(db, "drop pipelines") as tx:
        for sid in range(1, 5):
            tx.delete("stages", sid)
        tx.delete("pipelines", 1)
    db.close()
    copy, _ = _round_trip(crm, tmp_path)
    crm("--db", str(copy), "contact", "add", "Bob")
    assert crm.json("--db", str(copy), "pipeline", "list") == []


# ---------------------------------------------------------------- values


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8),
        st.one_of(
            st.none(),
            st.integers(-(2**63), 2**63 - 1),
            st.text(),
            st.floats(allow_nan=False),
            st.binary(),
        ),  # fmt: skip
        max_size=6,
    )
)
def test_values_encode_exactly(row):
    line = dump_store.encode(row)
    assert "\n" not in line
    back = dump_store.decode_blobs(json.loads(line))
    assert back == row
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in row.items()}


ODD = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(ODD, min_size=1, max_size=4), title=ODD,
       extra=st.one_of(st.floats(0.001, 1e6), st.binary(min_size=1, max_size=16)))  # fmt: skip
def test_contacts_with_odd_values_round_trip(tmp_path_factory, names, title, extra):
    d = tmp_path_factory.mktemp("odd")
    db = open_db(d / "a.db")
    db.actor = "tester"
    with transaction(db, "odd") as tx:
        for n in names:
            cid = tx.insert("contacts", {"name": n, "title": title, "created_at": tx.at,
                                         "updated_at": tx.at, "custom": json.dumps({n: title})})  # fmt: skip
            tx.insert("contact_tags", {"contact_id": cid, "tag": n})
    # A REAL where an INTEGER column cannot keep it, a BLOB in a TEXT column (neither is
    # something crm writes: the dump keeps whatever the file holds).
    col = "cadence_days" if isinstance(extra, float) else "street"
    db.conn.execute(f"UPDATE contacts SET {col} = ? WHERE id = ?", (extra, cid))
    first = d / "a.jsonl"
    dump_domain.dump_file(db, first)
    db.close()
    dump_domain.load(str(first), d / "b.db")
    db2 = open_db(d / "b.db")
    dump_domain.dump_file(db2, d / "b.jsonl")
    got = db2.conn.execute("SELECT cadence_days, street FROM contacts ORDER BY id DESC").fetchone()
    db2.close()
    assert (d / "b.jsonl").read_bytes() == first.read_bytes()
    assert extra in got
