"""Property: any sequence of commands, undone one by one, walks back through every earlier state."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_cli.domain import contacts, history, orgs
from crm_cli.domain.session import open_session
from crm_cli.errors import CrmError

DATA_TABLES = (
    "contacts",
    "orgs",
    "emails",
    "phones",
    "contact_tags",
    "org_tags",
    "settings",
    "teams",
)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzáéíñüABCÑ ", min_size=1, max_size=12).filter(
    str.strip
)
tags = st.lists(st.sampled_from(["vip", "b2b", "lead", "key-account", "newsletter"]), max_size=3)
emails = st.lists(st.sampled_from(["a@example.com", "b@example.es", "c@acme.es"]), max_size=2)
op = st.one_of(
    st.tuples(st.just("add"), names, tags, emails, st.sampled_from([None, "Acme SL", "Beta SA"])),
    st.tuples(
        st.just("edit"),
        st.integers(0, 5),
        st.sampled_from(["CEO", "CTO", ""]),
        st.sampled_from(["lead", "customer"]),
    ),
    st.tuples(st.just("tag"), st.integers(0, 5), tags),
    st.tuples(st.just("untag"), st.integers(0, 5), tags),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("org_delete"), st.sampled_from(["Acme SL", "Beta SA"])),
)


def snapshot(db) -> dict:
    out = {}
    for t in DATA_TABLES:
        cur = db.conn.execute(f"SELECT * FROM {t} ORDER BY id")
        out[t] = cur.fetchall()
    out["fts"] = db.conn.execute(
        "SELECT rowid, name, emails, org, tags FROM search_fts ORDER BY rowid"
    ).fetchall()
    return out


def run(db, o) -> bool:
    ids = [r[0] for r in db.conn.execute("SELECT id FROM contacts ORDER BY id")]
    kind = o[0]
    try:
        if kind == "add":
            contacts.add(db, o[1], tags=o[2], emails=o[3], org=o[4])
        elif not ids and kind != "org_delete":
            return False
        elif kind == "edit":
            r = contacts.edit(db, [ids[o[1] % len(ids)]], contacts.Edit(title=o[2], stage=o[3]))
            return bool(r)
        elif kind in ("tag", "untag"):
            if not o[2]:
                return False
            return bool(contacts.tag(db, [ids[o[1] % len(ids)]], o[2], remove=kind == "untag"))
        elif kind == "delete":
            contacts.delete(db, [ids[o[1] % len(ids)]])
        elif kind == "org_delete":
            found = [r[0] for r in db.conn.execute("SELECT id FROM orgs WHERE name = ?", (o[1],))]
            if not found:
                return False
            orgs.delete(db, found, cascade=True)
    except CrmError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=8))
def test_undo_walks_back_through_every_state(ops):
    with tempfile.TemporaryDirectory() as d:
        db = open_session(str(Path(d) / "p.db"), actor="tester")
        states = [snapshot(db)]
        for o in ops:
            if run(db, o):
                states.append(snapshot(db))
        while len(states) > 1:
            states.pop()
            history.undo(db)
            assert snapshot(db) == states[-1]
        db.close()
