"""crm demo: fill an empty database with a realistic sample."""

from __future__ import annotations

import typer

from crm_cli.commands._common import open_db


def demo_cmd(ctx: typer.Context):
    """Fill an empty database with a seeded sample (Spanish and English, B2B and B2C)."""
    from crm_cli.domain.demo import load_demo

    db = open_db(ctx)
    result = load_demo(db)
    if result is None:
        print(f"{db.path} already holds data; the demo changes nothing", flush=True)
        return
    counts = ", ".join(f"{v} {k}" for k, v in result.items())
    print(f"added {counts} to {db.path}")
    print("try: crm contact list tag:vip   crm pipeline show   crm timeline 'org:\"Acme SL\"'")
