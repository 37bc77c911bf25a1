"""Settings: personal ones in the config file, team-wide ones in the database."""

from __future__ import annotations

import json
from typing import Any

from crm_cli import config
from crm_cli.errors import InvalidInput
from crm_cli.storage import settings as store
from crm_cli.storage.db import Db, transaction


def team_get(db: Db | None, name: str) -> Any:
    """A team setting from the database, or its default."""
    k = config.key(name)
    if db is not None:
        value = store.get(db, name)
        if value is not None:
            return value
    return k.default


def stages(db: Db | None) -> list[str]:
    """The contact lifecycle stages, in order."""
    return list(team_get(db, "contact.stages"))


def get(db: Db | None, name: str) -> Any:
    k = config.key(name)
    return team_get(db, name) if k.scope == "team" else config.get(name)


def set_value(db_opener, name: str, text: str | None) -> tuple[config.Key, Any, str]:
    """Set (or with None, unset) a key; return the key, the stored value and where it went."""
    k = config.key(name)
    value = None if text is None else config.coerce(k, text)
    if k.name == "contact.stages" and value is not None:
        value = [s.lower() for s in value]
        if len(set(value)) != len(value):
            raise InvalidInput("contact.stages has a stage twice")
    if k.name == "time.zone" and value is not None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"unknown time zone '{value}' (use an IANA name like Europe/Madrid)"
            ) from None
    if k.name.startswith("ticket.target.") and value is not None:
        from crm_cli.domain import tickets

        value = value.strip()
        tickets.target_from_text(k.name, value)  # InvalidInput unless a duration above zero
    if k.name == "reports.commit_probability" and value is not None and not 0 <= value <= 100:
        raise InvalidInput(
            f"reports.commit_probability must be a percentage from 0 to 100, not {value}"
        )
    if k.name == "reports.churn_factor" and value is not None and not 0 < value <= 100:
        raise InvalidInput(f"reports.churn_factor must be above 0 (and at most 100), not {value:g}")
    if k.name == "alerts.max_per_kind" and value is not None and value < 1:
        raise InvalidInput(f"alerts.max_per_kind must be at least 1, not {value}")
    if k.name in ("alerts.stale_days", "alerts.overdue_days") and value is not None and value < 0:
        raise InvalidInput(f"{k.name} is a number of days, 0 or more, not {value}")
    if k.name == "alerts.stale_days_by_stage" and value is not None:
        from crm_cli.domain.alerts import parse_stage_limit

        for item in value:
            parse_stage_limit(item)
    if k.name == "smtp.port" and value is not None and not 1 <= value <= 65535:
        raise InvalidInput(f"smtp.port must be a port number from 1 to 65535, not {value}")
    if k.name == "smtp.security" and value is not None:
        value = value.strip().lower()
        if value not in ("starttls", "ssl", "none"):
            raise InvalidInput(f"smtp.security must be starttls, ssl or none, not '{text}'")
    if k.name == "phone.region" and value is not None:
        import phonenumbers

        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(
                f"unknown phone region '{text}' (use a country code like ES, GB, US)"
            )
    if k.scope == "personal":
        path = config.save_personal(name, value)
        return k, value, str(path)
    db = db_opener()
    with transaction(db, f"config set {name}") as tx:
        if k.name == "contact.stages":
            from crm_cli.storage import contacts as contact_store

            kept = value or k.default
            held = {
                st: n for st, n in contact_store.count_by_stage(db).items() if st and st not in kept
            }
            if held:
                first = next(iter(held))
                raise InvalidInput(
                    "contacts are still at "
                    + ", ".join(f"'{st}' ({n})" for st, n in held.items())
                    + f"; move them first, e.g. crm contact edit stage:{first} --stage {kept[0]} --yes"
                )
        rid = store.row_id(db, name)
        if value is None:
            if rid is not None:
                tx.delete("settings", rid)
        elif rid is None:
            tx.insert("settings", {"key": name, "value": json.dumps(value), "updated_at": tx.at})
        else:
            tx.update("settings", rid, {"value": json.dumps(value), "updated_at": tx.at})
    return k, value, str(db.path)


def all_values(db: Db | None) -> list[dict]:
    """Every known key with its value, scope, default and where it is stored."""
    personal = config.load()
    team = store.get_all(db) if db is not None else {}
    out = []
    for name, k in sorted(config.KEYS.items()):
        is_set = name in (personal if k.scope == "personal" else team)
        value = (personal if k.scope == "personal" else team).get(name, k.default)
        out.append({"key": name, "value": value, "scope": k.scope, "set": is_set,
                    "default": k.default, "help": k.help})  # fmt: skip
    return out
