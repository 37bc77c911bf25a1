"""Numbered, append-only schema migrations, applied under one BEGIN IMMEDIATE lock.

Never edit a shipped migration: add ``m00N_name`` at the end. Each is recorded in
sqlite-utils' ``_sqlite_migrations`` table (set ``crm``), so ``sqlite-utils`` tools
see the same history. sqlite-utils' own ``Migrations.apply()`` opens a deferred
transaction and reads the pending list before it holds the write lock, so two
processes opening a new file at once race; ``migrate`` below takes the lock first
and re-reads what is pending once it holds it.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Callable

MIGRATION_SET = "crm"
MIGRATIONS_TABLE = "_sqlite_migrations"

MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(fn: Callable[[sqlite3.Connection], None]):
    """Register a migration function; its name is its record."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def _exec(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; run statement by statement instead.
    for stmt in script.split(";\n"):
        if stmt.strip():
            conn.execute(stmt)


@migration
def m001_core(conn: sqlite3.Connection) -> None:
    _exec(
        conn,
        """
CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    email TEXT COLLATE NOCASE,
    role TEXT,
    team_id INTEGER REFERENCES teams(id),
    manager_id INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX users_email ON users(email);
CREATE TABLE change_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id INTEGER REFERENCES users(id),
    label TEXT NOT NULL,
    command TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    undoable INTEGER NOT NULL DEFAULT 1,
    reverts_set_id INTEGER REFERENCES change_sets(id),
    reverted_by_set_id INTEGER REFERENCES change_sets(id),
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX change_sets_actor ON change_sets(actor_id, id);
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    set_id INTEGER NOT NULL REFERENCES change_sets(id),
    table_name TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    before TEXT,
    after TEXT
);
CREATE INDEX changes_set ON changes(set_id, seq);
CREATE INDEX changes_row ON changes(table_name, row_id, set_id);
CREATE TABLE settings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE orgs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE,
    domain TEXT COLLATE NOCASE,
    industry TEXT,
    size TEXT,
    street TEXT,
    city TEXT,
    region TEXT,
    postal_code TEXT,
    country TEXT,
    owner_id INTEGER REFERENCES users(id),
    custom TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX orgs_name ON orgs(name);
CREATE INDEX orgs_domain ON orgs(domain);
CREATE INDEX orgs_created ON orgs(created_at);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE,
    first_name TEXT,
    last_name TEXT,
    title TEXT,
    org_id INTEGER REFERENCES orgs(id),
    street TEXT,
    city TEXT,
    region TEXT,
    postal_code TEXT,
    country TEXT,
    source TEXT,
    owner_id INTEGER REFERENCES users(id),
    stage TEXT,
    consent TEXT NOT NULL DEFAULT 'unknown'
        CHECK (consent IN ('unknown', 'granted', 'opted_out')),
    consent_at TEXT,
    birthday TEXT,
    custom TEXT NOT NULL DEFAULT '{}',
    social TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX contacts_name ON contacts(name);
CREATE INDEX contacts_org ON contacts(org_id);
CREATE INDEX contacts_owner ON contacts(owner_id);
CREATE INDEX contacts_stage ON contacts(stage);
CREATE INDEX contacts_created ON contacts(created_at);
CREATE INDEX contacts_updated ON contacts(updated_at);
CREATE TABLE emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    value TEXT NOT NULL,
    label TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'bounced', 'complained')),
    status_at TEXT
);
CREATE INDEX emails_value ON emails(value);
CREATE INDEX emails_contact ON emails(contact_id);
CREATE TABLE phones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER REFERENCES contacts(id),
    org_id INTEGER REFERENCES orgs(id),
    value TEXT NOT NULL,
    raw TEXT NOT NULL,
    label TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    CHECK ((contact_id IS NULL) != (org_id IS NULL))
);
CREATE INDEX phones_value ON phones(value);
CREATE INDEX phones_contact ON phones(contact_id);
CREATE INDEX phones_org ON phones(org_id);
CREATE TABLE contact_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    tag TEXT NOT NULL,
    UNIQUE (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags(tag, contact_id);
CREATE TABLE org_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    tag TEXT NOT NULL,
    UNIQUE (org_id, tag)
);
CREATE INDEX org_tags_tag ON org_tags(tag, org_id);
CREATE VIRTUAL TABLE search_fts USING fts5(
    kind UNINDEXED, ref_id UNINDEXED, name, emails, phones, org, tags, other,
    tokenize = 'unicode61 remove_diacritics 2'
)
""",
    )


def _applied(conn: sqlite3.Connection) -> set[str]:
    try:
        rows = conn.execute(
            f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ?", (MIGRATION_SET,)
        ).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return set()
        raise
    return {r[0] for r in rows}


def pending(conn: sqlite3.Connection) -> list[str]:
    """Names of migrations not yet applied (a read; takes no lock)."""
    done = _applied(conn)
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations under BEGIN IMMEDIATE; return the names applied."""
    if not pending(conn):
        return []
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    conn.execute("BEGIN IMMEDIATE")
    try:
        Migrations(MIGRATION_SET).ensure_migrations_table(
            Database(conn, execute_plugins=False, recursive_triggers=False)
        )
        done = _applied(conn)  # re-read now that we hold the write lock
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            fn(conn)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                (MIGRATION_SET, name, str(datetime.datetime.now(datetime.UTC))),
            )
            applied.append(name)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
