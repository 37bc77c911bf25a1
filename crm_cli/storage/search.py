"""The full-text index (FTS5) over contacts and organizations, kept current on commit.

The index is derived data: it stays out of the change log and is rebuilt for every
row a transaction touched (directly, through a child row such as an email, or
through its organization's rename), including rows an undo brings back.
FTS rowids are ``2*id`` for contacts and ``2*id+1`` for organizations, so one
record's entry is replaced by rowid instead of by a scan.
"""

from __future__ import annotations

import json

from crm_cli.storage.db import PARENT_KEYS, Db, Transaction, fetch_all, on_commit

PARENT_KEYS.update(
    {
        "emails": (("contact_id", "contacts"),),
        "phones": (("contact_id", "contacts"), ("org_id", "orgs")),
        "contact_tags": (("contact_id", "contacts"),),
        "org_tags": (("org_id", "orgs"),),
    }
)

_CONTACT_DOC = """
INSERT INTO search_fts (rowid, kind, ref_id, name, emails, phones, org, tags, other)
SELECT c.id * 2, 'contact', c.id, c.name,
  (SELECT group_concat(e.value, ' ') FROM emails e WHERE e.contact_id = c.id),
  (SELECT group_concat(p.value || ' ' || p.raw, ' ') FROM phones p WHERE p.contact_id = c.id),
  (SELECT o.name FROM orgs o WHERE o.id = c.org_id),
  (SELECT group_concat(t.tag, ' ') FROM contact_tags t WHERE t.contact_id = c.id),
  coalesce(c.title, '') || ' ' || coalesce(c.city, '') || ' ' || coalesce(c.country, '')
    || ' ' || coalesce(c.source, '')
FROM contacts c WHERE c.id IN (SELECT value FROM json_each(?))
"""

_ORG_DOC = """
INSERT INTO search_fts (rowid, kind, ref_id, name, emails, phones, org, tags, other)
SELECT o.id * 2 + 1, 'org', o.id, o.name, o.domain,
  (SELECT group_concat(p.value || ' ' || p.raw, ' ') FROM phones p WHERE p.org_id = o.id),
  NULL,
  (SELECT group_concat(t.tag, ' ') FROM org_tags t WHERE t.org_id = o.id),
  coalesce(o.industry, '') || ' ' || coalesce(o.city, '') || ' ' || coalesce(o.country, '')
FROM orgs o WHERE o.id IN (SELECT value FROM json_each(?))
"""


def _chunks(ids: list[int], n: int = 5000):
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def reindex(db: Db, contact_ids=(), org_ids=()) -> None:
    """Replace the index entries of these contacts and organizations."""
    conn = db.conn
    for chunk in _chunks(sorted(contact_ids)):
        conn.execute(
            "DELETE FROM search_fts WHERE rowid IN (SELECT value * 2 FROM json_each(?))",
            (json.dumps(chunk),),
        )
        conn.execute(_CONTACT_DOC, (json.dumps(chunk),))
    for chunk in _chunks(sorted(org_ids)):
        conn.execute(
            "DELETE FROM search_fts WHERE rowid IN (SELECT value * 2 + 1 FROM json_each(?))",
            (json.dumps(chunk),),
        )
        conn.execute(_ORG_DOC, (json.dumps(chunk),))


@on_commit
def _refresh(tx: Transaction) -> None:
    contacts = set(tx.touched.get("contacts", ())) | tx.touched_parents.get("contacts", set())
    orgs = set(tx.touched.get("orgs", ())) | tx.touched_parents.get("orgs", set())
    renamed = tx.touched.get("orgs")
    if renamed:
        for chunk in _chunks(sorted(renamed)):
            contacts.update(
                r[0]
                for r in tx.db.conn.execute(
                    "SELECT id FROM contacts WHERE org_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(chunk),),
                )
            )
    if contacts or orgs:
        reindex(tx.db, contacts, orgs)


def rebuild(db: Db) -> None:
    """Rebuild the whole index from the tables."""
    db.conn.execute("DELETE FROM search_fts")
    ids = [r[0] for r in db.conn.execute("SELECT id FROM contacts")]
    oids = [r[0] for r in db.conn.execute("SELECT id FROM orgs")]
    reindex(db, ids, oids)


def fts_query(text: str) -> str:
    """Turn free text into an FTS5 query: every word must match as a prefix. A NUL would end
    FTS5's reading of the query mid-string (an 'unterminated string' error): it separates."""
    words = [w for w in text.replace("\x00", " ").split() if w.strip('"')]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


# Ranking scores every match: "s*" matches most of 100,000 contacts and takes ~150 ms to
# rank, against ~10 ms to list. Prefixes this short are listed in index order instead.
RANK_FROM = 3  # letters typed


def search(db: Db, text: str, *, limit: int | None = 50) -> list[dict]:
    """Return matches as {kind, ref_id, rank}, best first (index order for one or two
    letters, where every name starting with them matches alike)."""
    q = fts_query(text)
    if not q:
        return []
    letters = sum(len(w.strip('"')) for w in text.split())
    order = "ORDER BY rank " if letters >= RANK_FROM else ""
    return fetch_all(
        db,
        f"SELECT kind, ref_id, rank FROM search_fts WHERE search_fts MATCH ? {order}LIMIT ?",
        (q, -1 if limit is None else limit),
    )
