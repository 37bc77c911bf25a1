"""SQL for imported mail: messages by Message-ID, their threads, the campaign messages they
answer or report on, and the email rows a bounce or complaint marks."""

from __future__ import annotations

import json
from collections.abc import Iterable

from crm_cli.storage.db import Db, fetch_all

_MESSAGE_COLUMNS = "id, message_id, thread_key, recipient_id, kind, activity_id"


def _json(values: Iterable) -> str:
    return json.dumps(sorted(set(values)))


def messages_by_ids(db: Db, message_ids: Iterable[str]) -> dict[str, dict]:
    """Imported messages per Message-ID (or content key)."""
    return {
        r["message_id"]: r
        for r in fetch_all(
            db,
            f"SELECT {_MESSAGE_COLUMNS} FROM mail_messages"
            " WHERE message_id IN (SELECT value FROM json_each(?))",
            (_json(message_ids),),
        )
    }


def messages_in_threads(db: Db, thread_keys: Iterable[str]) -> list[dict]:
    """Imported messages whose thread is one of these keys (their root's Message-ID)."""
    return fetch_all(
        db,
        f"SELECT {_MESSAGE_COLUMNS} FROM mail_messages"
        " WHERE thread_key IN (SELECT value FROM json_each(?)) ORDER BY id",
        (_json(thread_keys),),
    )


def recipients_by_message_ids(db: Db, message_ids: Iterable[str]) -> dict[str, dict]:
    """Campaign recipients per Message-ID of the message sent to them ('<id>' form; a
    ledger row written without angle brackets matches too)."""
    ids = set(message_ids)
    bare = {i[1:-1] for i in ids if i.startswith("<") and i.endswith(">")}
    out = {}
    for r in fetch_all(
        db,
        "SELECT id, campaign_id, contact_id, email, message_id FROM campaign_recipients"
        " WHERE message_id IN (SELECT value FROM json_each(?))",
        (_json(ids | bare),),
    ):
        mid = r["message_id"]
        out[mid if mid.startswith("<") else f"<{mid}>"] = r
    return out


def recipients_by_ids(db: Db, ids: Iterable[int]) -> dict[int, dict]:
    return {
        r["id"]: r
        for r in fetch_all(
            db,
            "SELECT id, campaign_id, contact_id, email, message_id FROM campaign_recipients"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (_json(ids),),
        )
    }


def emails_by_values(db: Db, values: Iterable[str]) -> dict[str, list[dict]]:
    """Email rows (with their status) per lower-case address."""
    out: dict[str, list[dict]] = {}
    for r in fetch_all(
        db,
        "SELECT id, contact_id, value, status, status_at, status_reason FROM emails"
        " WHERE value IN (SELECT value FROM json_each(?)) ORDER BY id",
        (_json(values),),
    ):
        out.setdefault(r["value"], []).append(r)
    return out


def contact_orgs(db: Db, contact_ids: Iterable[int]) -> dict[int, int | None]:
    """Each contact's organization id."""
    return dict(
        db.conn.execute(
            "SELECT id, org_id FROM contacts WHERE id IN (SELECT value FROM json_each(?))",
            (_json(contact_ids),),
        ).fetchall()
    )


def contact_consents(db: Db, contact_ids: Iterable[int]) -> dict[int, str]:
    return dict(
        db.conn.execute(
            "SELECT id, consent FROM contacts WHERE id IN (SELECT value FROM json_each(?))",
            (_json(contact_ids),),
        ).fetchall()
    )


def user_emails(db: Db) -> list[str]:
    """The team members' email addresses (lower-case): mail from them is outgoing."""
    return [
        r[0].lower()
        for r in db.conn.execute("SELECT email FROM users WHERE email IS NOT NULL AND email != ''")
    ]


def thread_of_activity(db: Db, activity_id: int) -> str | None:
    """The thread key of the message an activity was imported from."""
    row = db.conn.execute(
        "SELECT thread_key FROM mail_messages WHERE activity_id = ? ORDER BY id LIMIT 1",
        (activity_id,),
    ).fetchone()
    return row[0] if row else None


def threads_of_activities(db: Db, activity_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(thread key, Message-ID) per activity imported from mail."""
    return {
        aid: (thread, mid)
        for aid, thread, mid in db.conn.execute(
            "SELECT activity_id, thread_key, message_id FROM mail_messages"
            " WHERE activity_id IN (SELECT value FROM json_each(?)) ORDER BY id DESC",
            (_json(activity_ids),),
        )
    }
