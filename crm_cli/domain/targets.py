"""Sales targets: an amount a person or a team should win in a month, quarter or year.

Anyone may set, adjust or delete a target (the code base has roles but no permission
checks); every change is a change set, so ``crm history`` shows who made it and
``crm undo`` reverts it. ``figures`` sets the targets of one period against the deals
won in it and the weighted open pipeline expected to close in it; the targets report
and the ``behind-target`` alert read it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime

from crm_cli import config
from crm_cli.domain import dates, money, users
from crm_cli.errors import InvalidInput, NotFound
from crm_cli.storage import targets as store
from crm_cli.storage import users as user_store
from crm_cli.storage.db import Db, transaction

_WHOLE = re.compile(r"[0-9]{4}(-Q[1-4]|-[0-9]{2})?")


@dataclass(frozen=True, slots=True)
class Target:
    id: int
    owner_id: int | None
    owner: str | None
    team_id: int | None
    team: str | None
    period: str
    start_date: str
    end_date: str
    amount_minor: int
    currency: str
    created_at: str
    updated_at: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["amount"] = money.format(self.amount_minor, self.currency)
        return d


def _target(row: dict) -> Target:
    return Target(**{f: row[f] for f in Target.__dataclass_fields__})


def parse_period(text: str, *, now: datetime | None = None) -> dates.Period:
    """A whole calendar month, quarter or year (``2026-03``, ``2026-Q1``, ``this quarter``)."""
    p = dates.parse_period(text, now=now)
    if not _WHOLE.fullmatch(p.label):
        raise InvalidInput(
            f"a target's period is a whole month, quarter or year (2026-03, 2026-Q1, 2026, "
            f"'this quarter'), not {text.strip()!r} ({p.label})"
        )
    return p


def get(db: Db, target_id: int) -> Target:
    row = store.get(db, target_id)
    if row is None:
        raise NotFound(f"no target {target_id} (see 'crm target list')")
    return _target(row)


def _who(db: Db, owner: str | None, team: str | None) -> tuple[int | None, int | None]:
    if (owner is None) == (team is None):
        raise InvalidInput("give either --owner USER or --team TEAM (one of them)")
    if owner is not None:
        return users.resolve(db, owner).id, None
    row = user_store.find_team(db, team.strip())  # type: ignore[union-attr]
    if row is None:
        raise NotFound(f"no team '{team}' (see 'crm team list')")
    return None, row["id"]


def _amount(amount: str, currency: str | None) -> tuple[int, str]:
    default = currency if currency is not None else config.get("money.currency") or "EUR"
    minor, code = money.parse_with_currency(str(amount), default)
    if currency is not None and code != money.parse_with_currency("0", currency)[1]:
        raise InvalidInput(f"amount {amount!r} is in {code}, but --currency says {currency}")
    if minor <= 0:
        raise InvalidInput(f"a target's amount must be more than 0, not {amount!r}")
    return minor, code


def set_target(db: Db, *, owner: str | None = None, team: str | None = None, period: str,
               amount: str, currency: str | None = None,
               now: datetime | None = None) -> tuple[Target, bool]:  # fmt: skip
    """Create the target of a person or team for a period and currency, or adjust the
    one there is; return it and whether it was created."""
    p = parse_period(period, now=now)
    minor, code = _amount(amount, currency)
    owner_id, team_id = _who(db, owner, team)
    who = owner if owner is not None else f"team {team}"
    with transaction(db, f"target set {who} {p.label} {code}") as tx:
        old = store.find(db, owner_id, team_id, p.label, code)
        if old is None:
            tid = tx.insert("targets", {
                "owner_id": owner_id, "team_id": team_id, "period": p.label,
                "start_date": p.first.isoformat(), "end_date": p.last.isoformat(),
                "amount_minor": minor, "currency": code, "created_at": tx.at,
                "updated_at": tx.at})  # fmt: skip
        else:
            tid = old["id"]
            if old["amount_minor"] != minor:
                tx.update("targets", tid, {"amount_minor": minor, "updated_at": tx.at})
    return get(db, tid), old is None


def list_targets(db: Db, period: str | None = None) -> list[Target]:
    label = parse_period(period).label if period is not None else None
    return [_target(r) for r in store.list_targets(db, label)]


def delete(db: Db, target_id: int) -> Target:
    t = get(db, target_id)
    with transaction(db, f"target delete {target_id}") as tx:
        tx.delete("targets", target_id)
    return t


# -- figures -------------------------------------------------------------------


def elapsed_pct(period: dates.Period, now: datetime) -> float:
    """The share of the period's days that have passed (whole local days before today)."""
    today = dates.to_local(now).date()
    total = (period.last - period.first).days + 1
    done = min(max((today - period.first).days, 0), total)
    return round(100.0 * done / total, 1)


def _pct(part: int, whole: int | None) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def figures(db: Db, period: dates.Period, now: datetime) -> list[dict]:
    """Per person, then per team, one row per currency: target, won, weighted pipeline,
    attainment, projected attainment, share of the period elapsed and the gap (minor
    units; a team's won and pipeline are its current members'). People and teams with a
    target or with figures in the period are listed."""
    from crm_cli.domain.reports import weighted

    start, end = period.db()
    people = {p["id"]: p for p in store.people(db)}
    team_names = {t["id"]: t["name"] for t in store.teams(db)}
    won: dict[tuple[int, str], int] = defaultdict(int)
    pipe: dict[tuple[int, str], int] = defaultdict(int)
    for r in store.won_by_owner(db, start, end):
        won[(r["owner_id"], r["currency"])] += r["amount_minor"]
    for r in store.open_by_owner(db, period.first.isoformat(), period.last.isoformat()):
        pipe[(r["owner_id"], r["currency"])] += weighted(r["amount_minor"], r["probability"])
    person_t: dict[tuple[int, str], dict] = {}
    team_t: dict[tuple[int, str], dict] = {}
    for t in store.list_targets(db, period.label):
        if t["owner_id"] is not None:
            person_t[(t["owner_id"], t["currency"])] = t
        else:
            team_t[(t["team_id"], t["currency"])] = t
    el = elapsed_pct(period, now)

    def row(kind, name, team, key_id, currency, target, w, pl) -> dict:
        tm = target["amount_minor"] if target else None
        return {"kind": kind, "name": name, "team": team, "currency": currency,
                "target_id": target["id"] if target else None,
                "target_minor": tm, "won_minor": w, "pipeline_minor": pl,
                "target": money.format(tm, currency) if tm else None,
                "won": money.format(w, currency), "pipeline": money.format(pl, currency),
                "attainment": _pct(w, tm), "projected": _pct(w + pl, tm), "elapsed": el,
                "gap": money.format(tm - w, currency) if tm else None,
                "gap_minor": tm - w if tm else None, "_id": key_id}  # fmt: skip

    rows = []
    keys = sorted(set(won) | set(pipe) | set(person_t),
                  key=lambda k: (people[k[0]]["name"].casefold(), k[0], k[1]))  # fmt: skip
    t_won: dict[tuple[int, str], int] = defaultdict(int)
    t_pipe: dict[tuple[int, str], int] = defaultdict(int)
    for uid, cur in keys:
        p = people[uid]
        rows.append(row("person", p["name"], p["team"], uid, cur, person_t.get((uid, cur)),
                        won[(uid, cur)], pipe[(uid, cur)]))  # fmt: skip
        if p["team_id"] is not None:
            t_won[(p["team_id"], cur)] += won[(uid, cur)]
            t_pipe[(p["team_id"], cur)] += pipe[(uid, cur)]
    tkeys = sorted(set(t_won) | set(team_t), key=lambda k: (team_names[k[0]].casefold(), k))
    for tid, cur in tkeys:
        rows.append(row("team", team_names[tid], team_names[tid], tid, cur,
                        team_t.get((tid, cur)), t_won[(tid, cur)], t_pipe[(tid, cur)]))  # fmt: skip
    return rows
