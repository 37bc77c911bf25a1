"""SQL for the iCalendar import: which activity or follow-up an event's UID was imported as."""

from __future__ import annotations

import json
from collections.abc import Iterable

from crm_cli.storage.db import Db

# Entities a calendar item may have been imported as, in the order they are looked up.
ENTITIES = ("activities", "followups")


def records_by_external_ids(db: Db, system: str, ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per external id: {entity: record id} for activities and follow-ups that still exist."""
    out: dict[str, dict[str, int]] = {}
    keys = json.dumps(sorted(set(ids)))
    for entity in ENTITIES:  # table names come from the fixed tuple above, never from input
        for ext, rid in db.conn.execute(
            f"""SELECT x.external_id, x.record_id FROM external_ids x
                JOIN {entity} r ON r.id = x.record_id
                WHERE x.system = ? AND x.entity = ?
                AND x.external_id IN (SELECT value FROM json_each(?))""",
            (system, entity, keys),
        ):
            out.setdefault(ext, {})[entity] = rid
    return out
