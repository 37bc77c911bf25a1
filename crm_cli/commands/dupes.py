"""crm contact dupes / crm org dupes: list likely duplicates with a score and the reasons."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, FilterArgs, JsonOpt, LimitOpt, NdjsonOpt, open_db

MinScoreOpt = Annotated[
    float | None,
    typer.Option(
        "--min-score", min=0.0, max=1.0, help="Report pairs scoring at least this (default 0.5)."
    ),
]
COLUMNS = [("score", "score"), ("ids", "ids"), ("names", "names"), ("reasons", "reasons")]


def _emit(ctx, find, table, filters, min_score, json_, ndjson, csv_, limit) -> None:
    from crm_cli.commands._output import emit_list, fmt_choice
    from crm_cli.storage import dupes as store

    fmt = fmt_choice(json_, ndjson, csv_)
    db = open_db(ctx, must_exist=True)
    found = find(db, filters, min_score=min_score)
    if limit is not None:
        found = found[:limit]
    names = store.names(db, table, sorted({i for c in found for i in c.ids}))
    rows = [{**c.to_dict(), "names": [names.get(i, "") for i in c.ids]} for c in found]
    emit_list(rows, COLUMNS, fmt, keys=["score", "ids", "names", "reasons"])


def contact_dupes_cmd(
    ctx: typer.Context,
    filters: FilterArgs = None,
    min_score: MinScoreOpt = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
):
    """List groups of likely duplicate contacts with a score and the reasons."""
    from crm_cli.domain import dupes

    _emit(ctx, dupes.contact_dupes, "contacts", filters, min_score, json_, ndjson, csv_, limit)


def org_dupes_cmd(
    ctx: typer.Context,
    filters: FilterArgs = None,
    min_score: MinScoreOpt = None,
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = None,
):
    """List groups of likely duplicate organizations with a score and the reasons."""
    from crm_cli.domain import dupes

    _emit(ctx, dupes.org_dupes, "orgs", filters, min_score, json_, ndjson, csv_, limit)
