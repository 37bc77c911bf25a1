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


@migration
def m002_operational(conn: sqlite3.Connection) -> None:
    """Pipelines and deals, activities, follow-ups, reminder claims, tickets, orders.

    Enum columns (status, kind, priority) are COLLATE NOCASE like the filter language's
    equality, so ``status:open`` and the storage's own ``status = 'open'`` both use
    the same indexes.
    """
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _exec(
        conn,
        """
CREATE TABLE pipelines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE stages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
    name TEXT NOT NULL COLLATE NOCASE,
    position INTEGER NOT NULL,
    probability INTEGER NOT NULL CHECK (probability BETWEEN 0 AND 100),
    UNIQUE (pipeline_id, name)
);
CREATE INDEX stages_pipeline ON stages(pipeline_id, position);
CREATE TABLE deals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
    stage_id INTEGER NOT NULL REFERENCES stages(id),
    status TEXT NOT NULL COLLATE NOCASE DEFAULT 'open' CHECK (status IN ('open', 'won', 'lost')),
    lost_reason TEXT,
    org_id INTEGER REFERENCES orgs(id),
    contact_id INTEGER REFERENCES contacts(id),
    amount_minor INTEGER,
    currency TEXT,
    expected_close_date TEXT,
    owner_id INTEGER REFERENCES users(id),
    source TEXT,
    custom TEXT NOT NULL DEFAULT '{}',
    stage_entered_at TEXT NOT NULL,
    closed_at TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX deals_stage ON deals(stage_id, status, id);
CREATE INDEX deals_pipeline ON deals(pipeline_id, status);
CREATE INDEX deals_org ON deals(org_id);
CREATE INDEX deals_contact ON deals(contact_id);
CREATE INDEX deals_owner ON deals(owner_id, status);
CREATE INDEX deals_close ON deals(expected_close_date);
CREATE TABLE deal_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL REFERENCES deals(id),
    tag TEXT NOT NULL,
    UNIQUE (deal_id, tag)
);
CREATE INDEX deal_tags_tag ON deal_tags(tag, deal_id);
CREATE TABLE deal_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deal_id INTEGER NOT NULL REFERENCES deals(id),
    from_stage_id INTEGER REFERENCES stages(id),
    to_stage_id INTEGER NOT NULL REFERENCES stages(id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    moved_at TEXT NOT NULL,
    actor_id INTEGER REFERENCES users(id)
);
CREATE INDEX deal_moves_deal ON deal_moves(deal_id, moved_at);
CREATE INDEX deal_moves_to ON deal_moves(to_stage_id, moved_at);
CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL COLLATE NOCASE,
    direction TEXT COLLATE NOCASE CHECK (direction IN ('in', 'out')),
    subject TEXT,
    body TEXT,
    outcome TEXT,
    duration_seconds INTEGER CHECK (duration_seconds >= 0),
    occurred_at TEXT NOT NULL,
    channel TEXT,
    org_id INTEGER REFERENCES orgs(id),
    deal_id INTEGER REFERENCES deals(id),
    ticket_id INTEGER REFERENCES tickets(id),
    actor_id INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX activities_at ON activities(occurred_at);
CREATE INDEX activities_org ON activities(org_id, occurred_at);
CREATE INDEX activities_deal ON activities(deal_id, occurred_at);
CREATE INDEX activities_ticket ON activities(ticket_id, occurred_at);
CREATE INDEX activities_actor ON activities(actor_id, occurred_at);
CREATE TABLE activity_participants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    activity_id INTEGER NOT NULL REFERENCES activities(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    occurred_at TEXT NOT NULL,
    UNIQUE (activity_id, contact_id)
);
CREATE INDEX activity_participants_contact
    ON activity_participants(contact_id, occurred_at, activity_id);
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    type TEXT,
    contact_id INTEGER REFERENCES contacts(id),
    org_id INTEGER REFERENCES orgs(id),
    channel TEXT,
    priority TEXT NOT NULL COLLATE NOCASE DEFAULT 'normal'
        CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    status TEXT NOT NULL COLLATE NOCASE DEFAULT 'new'
        CHECK (status IN ('new', 'open', 'pending', 'resolved', 'closed')),
    assignee_id INTEGER REFERENCES users(id),
    due_at TEXT,
    first_response_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_status ON tickets(status, due_at);
CREATE INDEX tickets_assignee ON tickets(assignee_id, status);
CREATE INDEX tickets_contact ON tickets(contact_id);
CREATE INDEX tickets_org ON tickets(org_id);
CREATE TABLE followups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL COLLATE NOCASE DEFAULT 'open' CHECK (status IN ('open', 'done')),
    done_at TEXT,
    rule TEXT,
    rule_start_at TEXT,
    previous_id INTEGER REFERENCES followups(id),
    contact_id INTEGER REFERENCES contacts(id),
    org_id INTEGER REFERENCES orgs(id),
    deal_id INTEGER REFERENCES deals(id),
    ticket_id INTEGER REFERENCES tickets(id),
    assignee_id INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX followups_due ON followups(status, due_at);
CREATE INDEX followups_assignee ON followups(assignee_id, status, due_at);
CREATE INDEX followups_contact ON followups(contact_id);
CREATE INDEX followups_org ON followups(org_id);
CREATE INDEX followups_deal ON followups(deal_id);
CREATE INDEX followups_previous ON followups(previous_id);
CREATE TABLE reminder_claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_kind TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    recipient_id INTEGER NOT NULL REFERENCES users(id),
    due_at TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    UNIQUE (item_kind, item_id, recipient_id, due_at)
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    number TEXT NOT NULL UNIQUE COLLATE NOCASE,
    order_date TEXT NOT NULL,
    status TEXT NOT NULL COLLATE NOCASE DEFAULT 'paid'
        CHECK (status IN ('paid', 'refunded', 'cancelled')),
    total_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    source TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_contact ON orders(contact_id, order_date);
CREATE INDEX orders_date ON orders(order_date);
CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    position INTEGER NOT NULL,
    sku TEXT,
    description TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL
);
CREATE INDEX order_lines_order ON order_lines(order_id, position);
CREATE INDEX order_lines_sku ON order_lines(sku);
ALTER TABLE contacts ADD COLUMN cadence_days INTEGER CHECK (cadence_days > 0);
ALTER TABLE contacts ADD COLUMN cadence_set_at TEXT;
ALTER TABLE contacts ADD COLUMN last_activity_at TEXT;
ALTER TABLE contacts ADD COLUMN activity_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN order_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN last_order_date TEXT;
ALTER TABLE contacts ADD COLUMN spend_minor INTEGER;
ALTER TABLE contacts ADD COLUMN spend_currency TEXT;
CREATE INDEX contacts_last_activity ON contacts(last_activity_at);
CREATE INDEX contacts_cadence ON contacts(cadence_days) WHERE cadence_days IS NOT NULL
""",
    )
    # The default sales pipeline exists from the start (stages are rows: a rename keeps history).
    pid = conn.execute(
        "INSERT INTO pipelines (name, created_at, updated_at) VALUES ('sales', ?, ?)", (now, now)
    ).lastrowid
    for pos, (name, prob) in enumerate(
        [("lead", 10), ("qualified", 25), ("proposal", 50), ("negotiation", 75)], 1
    ):
        conn.execute(
            "INSERT INTO stages (pipeline_id, name, position, probability) VALUES (?, ?, ?, ?)",
            (pid, name, pos, prob),
        )


@migration
def m003_imports(conn: sqlite3.Connection) -> None:
    """Imports (one change set each) and the ids records have in other systems."""
    _exec(
        conn,
        """
CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    system TEXT,
    sha256 TEXT,
    options TEXT NOT NULL DEFAULT '{}',
    set_id INTEGER REFERENCES change_sets(id),
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'done', 'failed', 'dry-run')),
    pid INTEGER,
    host TEXT,
    rows_read INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    rejects_path TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX imports_set ON imports(set_id);
CREATE TABLE external_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL COLLATE NOCASE,
    entity TEXT NOT NULL,
    external_id TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    UNIQUE (system, entity, external_id)
);
CREATE INDEX external_ids_record ON external_ids(entity, record_id)
""",
    )


@migration
def m004_reports(conn: sqlite3.Connection) -> None:
    """What the reports need: each contact's first touch (churn's usual gap comes from the
    first and last order or interaction and their count) and a covering index for
    counting activities per kind and person over a time range."""
    _exec(
        conn,
        """
ALTER TABLE contacts ADD COLUMN first_activity_at TEXT;
ALTER TABLE contacts ADD COLUMN first_order_date TEXT;
CREATE INDEX activities_at_kind ON activities(occurred_at, kind, actor_id)
""",
    )
    conn.execute(
        """UPDATE contacts SET
             first_activity_at = (SELECT min(p.occurred_at) FROM activity_participants p
                                  WHERE p.contact_id = contacts.id),
             first_order_date = (SELECT min(o.order_date) FROM orders o
                                 WHERE o.contact_id = contacts.id AND o.status = 'paid')
           WHERE activity_count > 0 OR order_count > 0"""
    )


@migration
def m005_board(conn: sqlite3.Connection) -> None:
    """The board and the pipeline summary without sorting: a stage's open deals biggest
    first (crm dash draws the top 50 of thousands), and their totals per currency."""
    _exec(
        conn,
        """
CREATE INDEX deals_stage_amount ON deals(stage_id, status, amount_minor DESC, id);
CREATE INDEX deals_stage_currency ON deals(stage_id, status, currency, amount_minor)
""",
    )


@migration
def m006_visits(conn: sqlite3.Connection) -> None:
    """Web sessions (crm import visits): anonymous until their visitor id is seen with an
    email; a known visitor's sessions are also 'visit' activities on the timeline."""
    _exec(
        conn,
        """
CREATE TABLE web_visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    visitor_id TEXT,
    contact_id INTEGER REFERENCES contacts(id),
    activity_id INTEGER REFERENCES activities(id),
    started_at TEXT NOT NULL,
    landing_page TEXT,
    referrer TEXT,
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    pages INTEGER CHECK (pages >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX web_visits_visitor ON web_visits(visitor_id, started_at);
CREATE INDEX web_visits_contact ON web_visits(contact_id, started_at);
CREATE INDEX web_visits_at ON web_visits(started_at)
""",
    )


@migration
def m007_tag_index(conn: sqlite3.Connection) -> None:
    """Tag filters compare case-insensitively (tag:VIP finds vip): an index in that
    collation lets tag:vip find its contacts without probing all of them."""
    _exec(
        conn, "CREATE INDEX contact_tags_tag_nocase ON contact_tags(tag COLLATE NOCASE, contact_id)"
    )


@migration
def m008_org_name_fold(conn: sqlite3.Connection) -> None:
    """Organizations' names folded (case and accents) once, for org~ filters: kept by
    storage.summaries on every commit that touches an organization."""
    _exec(conn, "ALTER TABLE orgs ADD COLUMN name_fold TEXT")
    conn.execute("UPDATE orgs SET name_fold = crm_fold(name)")


@migration
def m009_report_speed(conn: sqlite3.Connection) -> None:
    """What bench/reports measured the reports to need at 100,000 contacts, 200,000 orders:
    each contact's last touch and usual gap between touches (orders and interactions),
    kept with the other summaries, so churn and its alert compare stored numbers; and
    covering indexes for paid orders per currency and customer, and by channel."""
    _exec(
        conn,
        """
ALTER TABLE contacts ADD COLUMN touch_last_at TEXT;
ALTER TABLE contacts ADD COLUMN touch_last_jd REAL;
ALTER TABLE contacts ADD COLUMN touch_gap_days REAL;
CREATE INDEX orders_paid ON orders(status, currency, contact_id, order_date, total_minor);
CREATE INDEX orders_channel ON orders(contact_id, status, source)
""",
    )
    from crm_cli.storage.summaries import TOUCH_REFRESH

    conn.execute(TOUCH_REFRESH.replace("WHERE id IN (SELECT value FROM json_each(?))", ""))


@migration
def m010_report_ranges(conn: sqlite3.Connection) -> None:
    """Counts over time ranges by index alone: activities per kind in a range (the
    activity report's months and weeks), and closed deals by closing time."""
    _exec(
        conn,
        """
CREATE INDEX activities_kind_at ON activities(kind, occurred_at);
CREATE INDEX deals_closed ON deals(status, closed_at)
""",
    )


@migration
def m011_mail_campaigns(conn: sqlite3.Connection) -> None:
    """Email in, segments and campaigns out.

    - ``emails.status`` gains ``deferred`` (a soft bounce: still deliverable) and a reason
      (the DSN's diagnostic); SQLite cannot change a CHECK in place, so the table is rebuilt
      with its ids, which the change log holds.
    - ``mail_messages``: one row per imported message (Message-ID, or ``sha256:`` of the
      content when missing, is unique: importing twice creates nothing), its thread (the
      root Message-ID), what it is (message, auto-reply, bounce, deferral, complaint), the
      activity it was logged as, and the campaign message it answers or reports on.
    - ``segments``: saved filters, evaluated fresh each time.
    - ``campaigns`` and the send ledger ``campaign_recipients``: the recipient list frozen
      when the send first starts, one row per person, marked *sending* (committed) before
      the SMTP transaction and *sent* after it; a *sending* row that no live run holds is in
      doubt. ``campaign_runs`` records each run (pid, host), so a second concurrent run is
      refused and a dead one is told apart from a live one.
    - ``campaign_stats``: cost, impressions, clicks and conversions of ad and social
      campaigns, imported per day.
    """
    _exec(
        conn,
        """
CREATE TABLE emails_m011 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    value TEXT NOT NULL,
    label TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'deferred', 'bounced', 'complained')),
    status_at TEXT,
    status_reason TEXT
);
INSERT INTO emails_m011 (id, contact_id, value, label, is_primary, status, status_at)
    SELECT id, contact_id, value, label, is_primary, status, status_at FROM emails;
DROP TABLE emails;
ALTER TABLE emails_m011 RENAME TO emails;
CREATE INDEX emails_value ON emails(value);
CREATE INDEX emails_contact ON emails(contact_id);
CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    filter TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE UNIQUE,
    channel TEXT NOT NULL COLLATE NOCASE DEFAULT 'email'
        CHECK (channel IN ('email', 'call', 'letter', 'ad', 'social')),
    segment_id INTEGER REFERENCES segments(id),
    filter TEXT,
    subject TEXT,
    body_template TEXT,
    html_template TEXT,
    sender TEXT,
    status TEXT NOT NULL COLLATE NOCASE DEFAULT 'draft'
        CHECK (status IN ('draft', 'sending', 'done')),
    frozen_at TEXT,
    owner_id INTEGER REFERENCES users(id),
    notes TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE campaign_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    via TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'done', 'stopped', 'failed')),
    sent INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX campaign_runs_campaign ON campaign_runs(campaign_id, status);
CREATE TABLE campaign_recipients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    email TEXT COLLATE NOCASE,
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'skipped', 'sending', 'sent', 'failed')),
    skip_reason TEXT,
    message_id TEXT UNIQUE,
    token TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_kind TEXT CHECK (error_kind IN ('temporary', 'permanent')),
    run_id INTEGER REFERENCES campaign_runs(id),
    sending_at TEXT,
    sent_at TEXT,
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX campaign_recipients_state ON campaign_recipients(campaign_id, state, id);
CREATE INDEX campaign_recipients_contact ON campaign_recipients(contact_id, campaign_id);
CREATE TABLE campaign_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    day TEXT NOT NULL,
    cost_minor INTEGER,
    currency TEXT,
    impressions INTEGER CHECK (impressions >= 0),
    clicks INTEGER CHECK (clicks >= 0),
    conversions INTEGER CHECK (conversions >= 0),
    created_at TEXT NOT NULL,
    CHECK ((cost_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX campaign_stats_campaign ON campaign_stats(campaign_id, day);
CREATE TABLE mail_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    thread_key TEXT NOT NULL,
    in_reply_to TEXT,
    refs TEXT,
    kind TEXT NOT NULL
        CHECK (kind IN ('message', 'auto_reply', 'bounce', 'deferral', 'complaint')),
    direction TEXT CHECK (direction IN ('in', 'out')),
    from_addr TEXT COLLATE NOCASE,
    subject TEXT,
    sent_at TEXT,
    activity_id INTEGER REFERENCES activities(id),
    recipient_id INTEGER REFERENCES campaign_recipients(id),
    created_at TEXT NOT NULL
);
CREATE INDEX mail_messages_thread ON mail_messages(thread_key, sent_at);
CREATE INDEX mail_messages_activity ON mail_messages(activity_id);
CREATE INDEX mail_messages_recipient ON mail_messages(recipient_id, kind)
""",
    )


@migration
def m012_default_pipeline_logged(conn: sqlite3.Connection) -> None:
    """The default pipeline becomes something the change log records.

    m002 inserted the 'sales' pipeline and its stages directly, with no record, so a
    replay of the change log, or a plain-text dump loaded into a schema-only database,
    could not account for them. From now on a database's first write creates the default
    pipeline in its not-undoable first-use change set (``storage.db._actor_id``):

    - a fresh database (no change sets, no deals) loses the seeded rows here, and their
      id counters, so that first write gives them the same ids again;
    - a database with history keeps them, and the change log gains the record it lacked:
      change set 0, not undoable, before every other, holding one insert per seeded row
      with the values it had when seeded (the ``before`` of its earliest recorded change,
      else its current values), so replaying the log from empty rebuilds it.
    """
    fresh = (
        conn.execute("SELECT 1 FROM change_sets LIMIT 1").fetchone() is None
        and conn.execute("SELECT 1 FROM deals LIMIT 1").fetchone() is None
        and conn.execute("SELECT 1 FROM deal_moves LIMIT 1").fetchone() is None
    )
    if fresh:
        conn.execute("DELETE FROM stages")
        conn.execute("DELETE FROM pipelines")
        conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('pipelines', 'stages')")
        return
    import json

    records = []  # (table, row_id, values as seeded)
    for table in ("pipelines", "stages"):
        ids = {r[0] for r in conn.execute(f"SELECT id FROM {table}")}
        ids |= {
            r[0] for r in conn.execute("SELECT row_id FROM changes WHERE table_name = ?", (table,))
        }
        logged = {
            r[0]
            for r in conn.execute(
                "SELECT row_id FROM changes WHERE table_name = ? AND op = 'insert'", (table,)
            )
        }
        for row_id in sorted(ids - logged):
            first = conn.execute(
                "SELECT before FROM changes WHERE table_name = ? AND row_id = ?"
                " ORDER BY seq LIMIT 1",
                (table, row_id),
            ).fetchone()
            if first is not None and first[0] is not None:
                values = json.loads(first[0])
            else:
                cur = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
                row = cur.fetchone()
                if row is None:
                    continue
                values = {d[0]: v for d, v in zip(cur.description, row)}
            records.append((table, row_id, values))
    if not records:
        return
    at = next(
        (v["created_at"] for t, _, v in records if t == "pipelines" and v.get("created_at")),
        datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    conn.execute(
        "INSERT INTO change_sets (id, actor_id, label, command, status, undoable, created_at,"
        " finished_at) VALUES (0, NULL, 'pipeline add sales (schema default)', NULL, 'done', 0, ?, ?)",
        (at, at),
    )
    low = conn.execute("SELECT min(seq) FROM changes").fetchone()[0]
    start = min(low if low is not None else 1, 1) - len(records)
    for seq, (table, row_id, values) in enumerate(records, start):
        conn.execute(
            "INSERT INTO changes (seq, set_id, table_name, row_id, op, before, after)"
            " VALUES (?, 0, ?, ?, 'insert', NULL, ?)",
            (seq, table, row_id, json.dumps(values, ensure_ascii=False, sort_keys=True)),
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


@migration
def m013_targets(conn: sqlite3.Connection) -> None:
    """Sales targets: an amount per person or team, calendar period and currency.

    ``period`` is the canonical text of a whole month, quarter or year (``2026-03``,
    ``2026-Q1``, ``2026``); ``start_date``/``end_date`` are its local days (inclusive).
    SQLite's UNIQUE treats NULLs as distinct, so one index per side keeps a person (or
    a team) to one target per period and currency.
    """
    _exec(
        conn,
        """
CREATE TABLE targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER REFERENCES users(id),
    team_id INTEGER REFERENCES teams(id),
    period TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((owner_id IS NULL) <> (team_id IS NULL)),
    UNIQUE (owner_id, team_id, period, currency)
);
CREATE UNIQUE INDEX targets_owner ON targets(owner_id, period, currency) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX targets_team ON targets(team_id, period, currency) WHERE team_id IS NOT NULL;
CREATE INDEX targets_dates ON targets(start_date, end_date)
""",
    )


@migration
def m014_coupons(conn: sqlite3.Connection) -> None:
    """Coupons: one code per campaign recipient, and the coupon and discount on orders.

    ``discount_pct`` (1-100) or ``discount_minor`` + ``currency`` (an amount off) or
    neither; ``orders.discount_minor`` is the discount given on that order, in its currency.
    """
    _exec(
        conn,
        """
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    code TEXT NOT NULL UNIQUE COLLATE NOCASE,
    discount_pct INTEGER CHECK (discount_pct BETWEEN 1 AND 100),
    discount_minor INTEGER CHECK (discount_minor > 0),
    currency TEXT,
    issued_at TEXT NOT NULL,
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX coupons_contact ON coupons(contact_id);
ALTER TABLE orders ADD COLUMN coupon_code TEXT COLLATE NOCASE;
ALTER TABLE orders ADD COLUMN discount_minor INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orders_coupon ON orders(coupon_code) WHERE coupon_code IS NOT NULL
""",
    )


@migration
def m015_campaign_reach(conn: sqlite3.Connection) -> None:
    """Reach outside the CRM, and hold-out groups.

    - ``campaign_deliveries``: what happened on channels the CRM does not send itself
      (``crm import deliveries``): a message on a till receipt, a letter delivered or
      returned, an SMS, a call, a banner in the private web area; an email opened (the
      provider's open data). ``count`` is how many times at that moment (a receipt per
      purchase); ``at`` is a UTC instant.
    - ``campaigns.holdout_pct`` / ``holdout_seed``: ``--holdout 10%``. The hold-out is
      drawn once, when the audience is first used (``holdout_at``): the members sorted by
      SHA-256 of seed and contact id, the first ``round(pct * members)`` of them held out.
      ``campaign_groups`` records every member's group (``holdout`` 1, else 0, the target
      group), so the comparison is between the groups as assigned, whoever was reached.
    """
    _exec(
        conn,
        """
ALTER TABLE campaigns ADD COLUMN holdout_pct REAL CHECK (holdout_pct > 0 AND holdout_pct < 100);
ALTER TABLE campaigns ADD COLUMN holdout_seed TEXT;
ALTER TABLE campaigns ADD COLUMN holdout_at TEXT;
CREATE TABLE campaign_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    holdout INTEGER NOT NULL CHECK (holdout IN (0, 1)),
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX campaign_groups_contact ON campaign_groups(contact_id);
CREATE TABLE campaign_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id INTEGER NOT NULL REFERENCES contacts(id),
    channel TEXT NOT NULL
        CHECK (channel IN ('email', 'receipt', 'letter', 'sms', 'call', 'web')),
    status TEXT NOT NULL
        CHECK (status IN ('delivered', 'returned', 'failed', 'opened', 'visited')),
    at TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    created_at TEXT NOT NULL
);
CREATE INDEX campaign_deliveries_campaign ON campaign_deliveries(campaign_id, channel, status);
CREATE INDEX campaign_deliveries_contact ON campaign_deliveries(contact_id, campaign_id)
""",
    )
