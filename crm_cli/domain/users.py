"""Team members and teams; who is acting."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from crm_cli import config
from crm_cli.domain import validate
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import users as store
from crm_cli.storage.db import Db, transaction

ROLES = ("admin", "manager", "member", "viewer")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str | None
    role: str | None
    team_id: int | None
    team: str | None
    manager_id: int | None
    manager: str | None
    created_at: str
    updated_at: str


def acting_name(explicit: str | None = None) -> str:
    """The acting user's name: --as, else CRM_USER, else config user.default, else the login."""
    for v in (explicit, os.environ.get("CRM_USER"), config.get("user.default")):
        if v and str(v).strip():
            return str(v).strip()
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "me"


def _user(row: dict) -> User:
    return User(**{f: row[f] for f in User.__dataclass_fields__})


def resolve(db: Db, name_or_email: str) -> User:
    """Find one user by name or email (case-insensitive)."""
    rows = store.find(db, name_or_email.strip())
    if not rows:
        raise NotFound(f"no user '{name_or_email}' (see 'crm user list')")
    if len(rows) > 1:
        listing = ", ".join(f"{r['id']} {r['name']}" for r in rows)
        raise InvalidInput(f"'{name_or_email}' matches several users ({listing}); use a name")
    return _user(rows[0])


def resolve_id(db: Db, name_or_email: str | None) -> int | None:
    if name_or_email is None:
        return None
    if not name_or_email.strip():
        return None
    return resolve(db, name_or_email).id


def list_users(db: Db) -> list[User]:
    return [_user(r) for r in store.list_users(db)]


def get(db: Db, user_id: int) -> User:
    row = store.get(db, user_id)
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row)


def _role(role: str | None) -> str | None:
    if role is None:
        return None
    r = role.strip().lower()
    if r not in ROLES:
        raise InvalidInput(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    return r


def _team_id(db: Db, team: str | None) -> int | None:
    if team is None or not team.strip():
        return None
    row = store.find_team(db, team.strip())
    if row is None:
        raise NotFound(f"no team '{team}' (add it with 'crm team add')")
    return row["id"]


def add(db: Db, name: str, *, email=None, role=None, team=None, manager=None) -> User:
    """Add a team member."""
    name = name.strip()
    if not name:
        raise InvalidInput("a user needs a name")
    if "@" in name:
        raise InvalidInput("a user's name cannot contain '@' (give the address with --email)")
    values = {
        "name": name,
        "email": validate.email(email) if email else None,
        "role": _role(role),
        "team_id": _team_id(db, team),
        "manager_id": resolve_id(db, manager),
    }
    with transaction(db, f"user add {name}") as tx:
        if store.find(db, name) or (values["email"] and store.find(db, values["email"])):
            raise InvalidInput(f"user '{name}' already exists")
        uid = tx.insert("users", {**values, "created_at": tx.at, "updated_at": tx.at})
    return get(db, uid)


def edit(db: Db, who: str, *, name=None, email=None, role=None, team=None, manager=None) -> User:
    """Change a team member's name, email, role, team or manager ('' clears)."""
    user = resolve(db, who)
    values: dict = {}
    if name is not None:
        if not name.strip() or "@" in name:
            raise InvalidInput("a user's name must be non-empty and without '@'")
        values["name"] = name.strip()
    if email is not None:
        values["email"] = validate.email(email) if email.strip() else None
    if role is not None:
        values["role"] = _role(role) if role.strip() else None
    if team is not None:
        values["team_id"] = _team_id(db, team)
    if manager is not None:
        mid = resolve_id(db, manager)
        if mid == user.id:
            raise InvalidInput("a user cannot be their own manager")
        values["manager_id"] = mid
    with transaction(db, f"user edit {user.name}") as tx:
        for key in ("name", "email"):
            if values.get(key):
                other = [u for u in store.find(db, values[key]) if u["id"] != user.id]
                if other:
                    raise InvalidInput(
                        f"{key} '{values[key]}' already belongs to user '{other[0]['name']}'"
                    )
        if tx.update("users", user.id, values):
            tx.update("users", user.id, {"updated_at": tx.at})
    return get(db, user.id)


def add_team(db: Db, name: str) -> dict:
    """Add a team."""
    name = name.strip()
    if not name:
        raise InvalidInput("a team needs a name")
    with transaction(db, f"team add {name}") as tx:
        if store.find_team(db, name):
            raise InvalidInput(f"team '{name}' already exists")
        tid = tx.insert("teams", {"name": name, "created_at": tx.at})
    return {"id": tid, "name": name, "created_at": tx.at, "members": 0}


def list_teams(db: Db) -> list[dict]:
    return store.list_teams(db)
