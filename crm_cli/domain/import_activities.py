"""Calendars in: meetings with known contacts onto their timelines, to-dos as follow-ups.

``crm import activities FILE.ics``: ``crm_cli.io.ics.read_ics`` reads every VEVENT and
VTODO; this module writes them. Recurring events (RRULE, RDATE, EXDATE, moved occurrences
with RECURRENCE-ID) are expanded within a window (one year back to 30 days ahead of now;
``Options.extra["window"] = "FROM..TO"`` in our date words changes it), each occurrence
one row. The rules:

- An event whose organizer or an attendee (mailto: address; declined attendees left
  out) is a known contact is a meeting on their timelines when it has started, and a
  follow-up "Meeting: SUMMARY" due at its start while it is still to come; once it has
  happened, importing again logs the meeting and marks that follow-up done. An event
  with no known participant is counted as unchanged (skipped), not rejected: a real
  calendar is mostly other business, and rejecting it would make every run "partly done".
- All-day events happen at local midnight of their date; floating times are local.
- A VTODO is a follow-up (due at DUE, else DTSTART, else CREATED, else the import time),
  linked to a known contact among its organizer and attendees; COMPLETED, PERCENT-COMPLETE
  100 and CANCELLED make it done. A follow-up done here stays done.
- Events with STATUS:CANCELLED, and recurring series with no occurrence in the window,
  are counted as unchanged.
- Re-import matches by UID (plus the original start of an occurrence, for recurring
  series) recorded as an external id of system "ics" (unless ``--system`` says
  otherwise), so the same file twice creates nothing and a changed event updates its
  record. An item without a UID is keyed by its start and summary.
- A component that cannot be read (no DTSTART, an unreadable date or rule) is
  rejected with the reason; a file with no calendar in it fails with one line.

The reading (components, recurrence, the window) is ``read_ics`` in the io layer's ics
module; this module writes what it read.
"""

from __future__ import annotations

from crm_cli.domain import activities, dates, validate
from crm_cli.domain.imports import ROW_ERRORS, Item, Options, Result, _link_external
from crm_cli.storage.db import Db, Transaction, transaction

SYSTEM = "ics"  # UIDs are global (RFC 5545): the same event from two files is one record


# ---------------------------------------------------------------- writing


def write_batch(
    db: Db, tx: Transaction, items: list[Item], opts: Options, res: Result, reject, source=None
):
    """Write a batch of calendar rows: meetings, planned meetings and to-dos (see the module)."""
    from crm_cli.storage import import_lookup_ics as lookup
    from crm_cli.storage import imports as store

    now = dates.to_db(dates.now())
    system = opts.system or SYSTEM
    ours = []
    for it in items:  # CSV/JSON rows of activities have no reader here yet: said, not a crash
        if isinstance(it.record, dict) and it.record.get("type") in ("event", "todo", "skip"):
            ours.append(it)
        else:
            reject(it, "activities are imported from iCalendar (.ics) files only, so far")
    items = ours
    people = store.contacts_by_emails(
        db, {e for it in items for e in (it.record or {}).get("emails", ())}
    )
    links = lookup.records_by_external_ids(db, system, [it.record["key"] for it in items])
    for item in items:
        rec = item.record
        if rec["type"] == "skip":
            res.unchanged += 1
            continue
        cids = list(dict.fromkeys(c for e in rec["emails"] for c in people.get(e, ())))
        found = links.setdefault(rec["key"], {})
        try:
            with transaction(db, "import row"):  # a savepoint: a bad row leaves the rest
                write = _write_event if rec["type"] == "event" else _write_todo
                outcome = write(db, tx, rec, cids, found, system, now)
        except ROW_ERRORS as e:
            reject(item, str(e))
            continue
        if outcome == "created":
            res.created += 1
        elif outcome == "updated":
            res.updated += 1
        else:
            res.unchanged += 1


def _write_event(db, tx, rec: dict, cids: list[int], found: dict, system: str, now: str) -> str:
    past = rec["start"] <= now
    if "activities" in found:
        return _update_meeting(db, tx, found["activities"], rec, cids)
    fid = found.get("followups")
    if fid is not None and not past:
        return _update_followup(tx, fid, {"text": _meeting_text(rec), "due_at": rec["start"]},
                                cids)  # fmt: skip
    outcome = "unchanged"  # no known participant: skipped
    if past and cids:
        aid = activities.write(
            db, tx, "meeting", contact_ids=cids, subject=rec["summary"],
            body=rec["description"], occurred_at=rec["start"],
            duration_seconds=rec["duration_seconds"], channel=rec["location"] or "calendar",
        )  # fmt: skip
        _link_external(db, tx, system, rec["key"], aid, entity="activities")
        found["activities"] = aid
        outcome = "created"
    elif cids:
        fid = tx.insert("followups", _new_followup(tx, _meeting_text(rec), rec["start"], cids))
        _link_external(db, tx, system, rec["key"], fid, entity="followups")
        found["followups"] = fid
        outcome = "created"
    if past and fid is not None:  # the planned meeting has happened
        row = tx.get("followups", fid)
        if row["status"] != "done":
            tx.update("followups", fid, {"status": "done", "done_at": rec["start"],
                                         "updated_at": tx.at})  # fmt: skip
            outcome = "updated" if outcome == "unchanged" else outcome
    return outcome


def _meeting_text(rec: dict) -> str:
    return f"Meeting: {validate.text(rec['summary']) or 'untitled'}"


def _new_followup(tx, text: str, due_at: str, cids: list[int], **more) -> dict:
    return {
        "text": validate.text(text) or "Untitled to-do", "due_at": due_at, "status": "open",
        "contact_id": cids[0] if cids else None, "assignee_id": tx.actor_id,
        "created_at": tx.at, "updated_at": tx.at, **more,
    }  # fmt: skip


def _update_followup(tx, fid: int, values: dict, cids: list[int]) -> str:
    if cids:
        values["contact_id"] = cids[0]
    if tx.update("followups", fid, values):
        tx.update("followups", fid, {"updated_at": tx.at})
        return "updated"
    return "unchanged"


def _update_meeting(db, tx, aid: int, rec: dict, cids: list[int]) -> str:
    from crm_cli.storage import activities as act_store

    changed = tx.update("activities", aid, {
        "subject": validate.text(rec["summary"]), "body": validate.body(rec["description"]),
        "occurred_at": rec["start"], "duration_seconds": rec["duration_seconds"],
        "channel": validate.text(rec["location"] or "calendar"),
    })  # fmt: skip
    parts = act_store.participant_rows(db, aid)
    if cids:  # with no known participant left, the meeting keeps the ones it had
        have = {p["contact_id"] for p in parts}
        for p in parts:
            if p["contact_id"] not in cids:
                tx.delete("activity_participants", p["id"])
                changed = True
        for cid in cids:
            if cid not in have:
                tx.insert("activity_participants",
                          {"activity_id": aid, "contact_id": cid, "occurred_at": rec["start"]})  # fmt: skip
                changed = True
    for p in act_store.participant_rows(db, aid):
        if p["occurred_at"] != rec["start"]:
            tx.update("activity_participants", p["id"], {"occurred_at": rec["start"]})
    if changed:
        tx.update("activities", aid, {"updated_at": tx.at})
        return "updated"
    return "unchanged"


def _write_todo(db, tx, rec: dict, cids: list[int], found: dict, system: str, now: str) -> str:
    text = validate.text(rec["summary"]) or validate.text(
        (rec["description"] or "").strip().split("\n")[0]
    ) or "Untitled to-do"  # fmt: skip
    fid = found.get("followups")
    if fid is None:
        done = rec["status"] == "done"
        fid = tx.insert("followups", _new_followup(
            tx, text, rec["due"] or tx.at, cids, status=rec["status"],
            done_at=(rec["done_at"] or rec["due"] or tx.at) if done else None,
        ))  # fmt: skip
        _link_external(db, tx, system, rec["key"], fid, entity="followups")
        found["followups"] = fid
        return "created"
    values: dict = {"text": text}
    if rec["due"]:
        values["due_at"] = rec["due"]
    row = tx.get("followups", fid)
    if rec["status"] == "done" and row["status"] != "done":  # done here stays done
        values.update(status="done", done_at=rec["done_at"] or rec["due"] or tx.at)
    return _update_followup(tx, fid, values, cids)
