"""crm dash: the Textual dashboard (Textual is imported by this command only)."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_cli.commands._common import open_db, state


def dash_cmd(
    ctx: typer.Context,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Pipeline to show first (name or id).")
    ] = None,
):
    """Open the dashboard: pipeline board, follow-up agenda, contacts with their timeline."""
    db = open_db(ctx, must_exist=True)  # a missing database or an unknown user fails here
    if pipeline is not None:
        from crm_cli.domain import deals

        deals.resolve_pipeline(db, pipeline)
    st = state(ctx)
    from crm_cli.tui.app import CrmApp

    app = CrmApp(st.db_path, st.actor, pipeline)
    app.run()
    if app.return_code:
        raise typer.Exit(app.return_code)
