"""Import team members (Chinook's Employee.csv, or any users file) for `crm import users`.

A row becomes a team member matched by its id in the source system, then its email, then
its name; its manager (``manager_ref``) is resolved through the same system's ids once the
manager is known (earlier in the file or already imported). Other columns are not kept:
a team member is a name, an email, a role and a manager.
"""

from __future__ import annotations

from crm_cli.domain import imports, users, validate
from crm_cli.errors import InvalidInput
from crm_cli.storage import imports as store
from crm_cli.storage import users as user_store
from crm_cli.storage.db import Db, Transaction, transaction


def _name(rec: dict) -> str | None:
    name = rec.get("name") or " ".join(
        p for p in (rec.get("first_name"), rec.get("last_name")) if p
    )
    return validate.text(name) if isinstance(name, str) else None


def write_batch(db: Db, tx: Transaction, items, opts, res, reject, source=None) -> None:
    """Create or update the team members of a batch, then link their managers."""
    managers: list[tuple[int, str]] = []
    for item in items:
        rec = item.record or {}
        try:
            name = _name(rec)
            if not name:
                raise InvalidInput("a team member needs a name")
            emails = rec.get("emails") or ([rec["email"]] if rec.get("email") else [])
            email = (
                emails[0]["value"]
                if emails and isinstance(emails[0], dict)
                else (emails or [None])[0]
            )
            ext = str(rec["external_id"]) if rec.get("external_id") not in (None, "") else None
            found = store.by_external_ids(db, opts.system, "users", [ext]).get(ext) if ext else None
            if found is None:
                rows = user_store.find(db, email) if email else []
                rows = rows or user_store.find(db, name)
                found = rows[0]["id"] if rows else None
            with transaction(db, "import row"):
                if found is None:
                    uid = users.add(db, name, email=email).id
                    res.created += 1
                elif opts.on_duplicate == "skip":
                    uid = found
                    res.unchanged += 1
                else:
                    uid = found
                    current = users.get(db, found)
                    changed = email and not current.email
                    if changed:
                        users.edit(db, current.name, email=email)
                    res.updated += 1 if changed else 0
                    res.unchanged += 0 if changed else 1
                if ext:
                    imports._link_external(db, tx, opts.system, ext, uid, entity="users")
            if rec.get("manager_ref") not in (None, ""):
                managers.append((uid, str(rec["manager_ref"])))
        except imports.ROW_ERRORS as e:
            reject(item, str(e))
    refs = store.by_external_ids(db, opts.system, "users", [ref for _, ref in managers])
    for uid, ref in managers:
        manager = refs.get(ref)
        if manager is not None and manager != uid:
            tx.update("users", uid, {"manager_id": manager})
