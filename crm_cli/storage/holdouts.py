"""SQL for the groups a campaign's hold-out draw assigned (``campaign_groups``)."""

from __future__ import annotations

from crm_cli.storage.db import Db


def ids(db: Db, campaign_id: int, *, holdout: bool = True) -> set[int]:
    """The contacts the draw put in the hold-out (or, ``holdout=False``, the target group)."""
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM campaign_groups WHERE campaign_id = ? AND holdout = ?",
            (campaign_id, int(holdout)),
        )
    }
