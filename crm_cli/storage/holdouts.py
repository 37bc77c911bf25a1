"""SQL for campaign hold-out groups (``campaign_holdouts``)."""

from __future__ import annotations

from crm_cli.storage.db import Db


def ids(db: Db, campaign_id: int) -> set[int]:
    return {
        r[0]
        for r in db.conn.execute(
            "SELECT contact_id FROM campaign_holdouts WHERE campaign_id = ?", (campaign_id,)
        )
    }
