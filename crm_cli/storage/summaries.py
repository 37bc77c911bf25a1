"""Per-contact summary columns (last activity, activity and order counts, spend), kept on commit.

They are derived from ``activity_participants`` and ``orders``: a refresher recomputes
them for every contact a transaction touched through those tables (or re-inserted,
as an undo of a delete does). They never enter the change log, so logging a call
does not block undoing an earlier edit of the contact, and reports, cadence and the
dashboard read them without scanning the activity table.
"""

from __future__ import annotations

import json

from crm_cli.storage.db import DERIVED, SUMMARY_KEYS, Db, Transaction, on_commit

SUMMARY_KEYS.update(
    {
        "activity_participants": (("contact_id", "contacts"),),
        "orders": (("contact_id", "contacts"),),
    }
)
DERIVED["contacts"] = (
    "touch_last_at",
    "touch_last_jd",
    "touch_gap_days",
    "first_activity_at",
    "first_order_date",
    "last_activity_at",
    "activity_count",
    "order_count",
    "last_order_date",
    "spend_minor",
    "spend_currency",
)

# ``+o.status``: without it SQLite 3.40 answers the two count(DISTINCT currency) lookups
# from orders_paid (status, currency, contact_id, ...), reading every paid order once per
# contact: 43 ms a contact at 200,000 orders (a 100,000-contact refresh took over an hour),
# against 0.1 ms through the contact's own orders.
_PAID = "FROM orders o WHERE o.contact_id = contacts.id AND +o.status = 'paid'"

_REFRESH = f"""
UPDATE contacts SET
  first_activity_at = (SELECT min(p.occurred_at) FROM activity_participants p
                       WHERE p.contact_id = contacts.id),
  last_activity_at = (SELECT max(p.occurred_at) FROM activity_participants p
                      WHERE p.contact_id = contacts.id),
  activity_count = (SELECT count(*) FROM activity_participants p
                    WHERE p.contact_id = contacts.id),
  order_count = (SELECT count(*) {_PAID}),
  first_order_date = (SELECT min(o.order_date) {_PAID}),
  last_order_date = (SELECT max(o.order_date) {_PAID}),
  spend_currency = (SELECT CASE WHEN count(DISTINCT o.currency) = 1 THEN min(o.currency) END {_PAID}),
  spend_minor = (SELECT CASE WHEN count(DISTINCT o.currency) = 1 THEN sum(o.total_minor) END {_PAID})
WHERE id IN (SELECT value FROM json_each(?))
"""


# The touches (interactions and paid orders) from the columns above, once they are set:
# an order counts at 12:00 UTC of its date (its local date in any zone within ±11 h).
# The usual gap is the span from the first touch to the last over the number of gaps.
_LAST = (
    "max(coalesce(last_activity_at, last_order_date || 'T12:00:00Z'),"
    " coalesce(last_order_date || 'T12:00:00Z', last_activity_at))"
)
_FIRST = (
    "min(coalesce(first_activity_at, first_order_date || 'T12:00:00Z'),"
    " coalesce(first_order_date || 'T12:00:00Z', first_activity_at))"
)
TOUCH_REFRESH = f"""
UPDATE contacts SET
  touch_last_at = {_LAST},
  touch_last_jd = julianday({_LAST}),
  touch_gap_days = CASE WHEN activity_count + order_count >= 2
    THEN (julianday({_LAST}) - julianday({_FIRST})) / (activity_count + order_count - 1) END
WHERE id IN (SELECT value FROM json_each(?))
"""


def refresh_contacts(db: Db, ids) -> None:
    """Recompute the summary columns of these contacts."""
    ids = sorted(ids)
    for i in range(0, len(ids), 5000):
        chunk = json.dumps(ids[i : i + 5000])
        db.conn.execute(_REFRESH, (chunk,))
        db.conn.execute(TOUCH_REFRESH, (chunk,))  # reads the columns just refreshed


def refresh_all(db: Db) -> None:
    """Recompute every contact's summary (for repair after outside edits)."""
    everyone = "WHERE id IN (SELECT value FROM json_each(?))"
    db.conn.execute(_REFRESH.replace(everyone, ""))
    db.conn.execute(TOUCH_REFRESH.replace(everyone, ""))


@on_commit
def _refresh(tx: Transaction) -> None:
    ids = tx.summary_parents.get("contacts", set()) | tx.inserted.get("contacts", set())
    if ids:
        refresh_contacts(tx.db, ids)


# -- organizations' folded names ----------------------------------------------------
# Filters fold case and accents (org~garcia finds García). Folding runs in Python, called
# from SQLite once per row (~6 µs): 67,000 organization names cost ~100 ms on every
# org~ filter. The folded name is kept beside the name instead, refreshed for the
# organizations a transaction touched, and compared in SQLite alone.
DERIVED["orgs"] = ("name_fold",)


def refresh_org_folds(db: Db, ids) -> None:
    ids = sorted(ids)
    for i in range(0, len(ids), 5000):
        db.conn.execute(
            "UPDATE orgs SET name_fold = crm_fold(name) WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids[i : i + 5000]),),
        )


@on_commit
def _refresh_org_folds(tx: Transaction) -> None:
    ids = tx.touched.get("orgs")
    if ids:
        refresh_org_folds(tx.db, ids)
