"""crm search: full-text search over contacts and organizations."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, LimitOpt, NdjsonOpt, open_db


def search_cmd(
    ctx: typer.Context,
    text: Annotated[
        list[str], typer.Argument(help="Words to find (accents and case ignored; prefixes match).")
    ],
    json_: JsonOpt = False,
    ndjson: NdjsonOpt = False,
    csv_: CsvOpt = False,
    limit: LimitOpt = 50,
):
    """Search contacts and organizations by name, email, phone, organization, tags."""
    from crm_cli.commands._output import emit_list, fmt_choice
    from crm_cli.domain.search import search

    fmt = fmt_choice(json_, ndjson, csv_)
    hits = search(open_db(ctx, must_exist=True), " ".join(text), limit=limit)
    cols = [
        ("kind", "kind"),
        ("id", "id"),
        ("name", "name"),
        ("org", "org"),
        ("email", "email / domain"),
    ]
    emit_list(hits, cols, fmt)
