"""Hold-out groups: members of a campaign's audience it deliberately never reaches.

``crm campaign add … --holdout 10%`` keeps that share of the segment out of every
channel -- email, call lists, letters, coupons, and the audience list handed to outside
channels (``crm campaign audience``) -- so ``crm report impact`` can compare the people
reached with people just like them who were not.

The draw is random and reproducible: the segment's members are sorted by the SHA-256 of
the campaign's seed and their contact id, and the first ``round(pct × members)`` are held
out. It happens once, the first time the audience is used (a send, a call list, letters,
coupons, an audience export, imported deliveries), and is recorded one row per person in
``campaign_holdouts`` with the time in ``campaigns.holdout_at``; from then on the record,
not the segment, says who is held out. Before that, a dry run or a preview computes the
same draw without writing it.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from crm_cli.errors import InvalidInput
from crm_cli.storage import holdouts as store
from crm_cli.storage.db import Db, Transaction

_PCT = re.compile(r"^(\d{1,2}(?:\.\d{1,2})?)\s*%?$")
MAX_PCT = 50.0  # a hold-out larger than the treated group is a different experiment


def parse_pct(text: str | float | None) -> float | None:
    """``10%``, ``10`` or ``2.5%`` -> 10.0 / 2.5; ``0``/``0%``/``none`` -> None (no hold-out)."""
    if text is None:
        return None
    t = str(text).strip().lower()
    if t in ("none", "no", "off"):
        return None
    m = _PCT.match(t)
    if not m:
        raise InvalidInput(f"--holdout {text!r}: give a percentage, e.g. 10%")
    pct = float(m.group(1))
    if pct == 0:
        return None
    if pct > MAX_PCT:
        raise InvalidInput(f"--holdout {text!r}: at most {MAX_PCT:g}% of the audience")
    return pct


def new_seed() -> str:
    return secrets.token_hex(8)


def draw(seed: str, pct: float, members: list[int]) -> set[int]:
    """The held-out members: the first round(pct% of them) by SHA-256 of seed and id."""
    n = round(len(members) * pct / 100)
    if n == 0:
        return set()

    def rank(cid: int) -> bytes:
        return hashlib.sha256(f"{seed}:{cid}".encode()).digest()

    return set(sorted(members, key=rank)[:n])


def held_out(db: Db, c, members: list[int] | None = None) -> set[int]:
    """Who the campaign holds out: the recorded draw, or (not drawn yet) the draw it would
    make now from ``members`` (default: the segment's members now)."""
    if not c.holdout_pct:
        return set()
    if c.holdout_at:
        return store.ids(db, c.id)
    return draw(c.holdout_seed, c.holdout_pct, _members(db, c) if members is None else members)


def targets(db: Db, c) -> set[int]:
    """The target group the draw recorded: the members it did not hold out (empty before
    the draw, and for a campaign without a hold-out)."""
    return store.ids(db, c.id, holdout=False) if c.holdout_at else set()


def ensure(db: Db, tx: Transaction, c, members: list[int] | None = None) -> set[int]:
    """Draw and record the hold-out if the campaign has one and it is not drawn yet (in
    the caller's transaction): every member's group. Return who is held out."""
    if not c.holdout_pct:
        return set()
    if c.holdout_at:
        return store.ids(db, c.id)
    members = _members(db, c) if members is None else members
    ids = held_out(db, c, members)
    rows = [{"campaign_id": c.id, "contact_id": i, "holdout": int(i in ids)}
            for i in sorted(set(members))]  # fmt: skip
    for i in range(0, len(rows), 5000):
        tx.insert_many("campaign_groups", rows[i : i + 5000])
    tx.update("campaigns", c.id, {"holdout_at": tx.at, "updated_at": tx.at})
    return ids


def _members(db: Db, c) -> list[int]:
    from crm_cli.domain import segments

    if c.segment_id is None:
        return []
    return segments.member_ids(db, segments.get(db, str(c.segment_id)))
