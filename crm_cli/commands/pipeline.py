"""crm pipeline: sales pipelines and their ordered stages."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, NdjsonOpt, noun_app, open_db
from crm_cli.domain import deals

app = noun_app("Sales pipelines: add, list, show, and their stages.")
stage_app = noun_app("A pipeline's stages: add, move, rename, probability.")
app.add_typer(stage_app, name="stage")

PipelineArg = Annotated[str, typer.Argument(help="Pipeline name or id.")]
StageArg = Annotated[str, typer.Argument(help="Stage name or 1-based position.")]


def _print(p: deals.Pipeline, json_: bool, stage: str | None = None) -> None:
    """The pipeline as JSON, else the id of what was touched (the stage, or the pipeline)."""
    if json_:
        print(json.dumps(p.to_dict(), ensure_ascii=False, indent=2))
    elif stage is not None:
        import unicodedata

        key = unicodedata.normalize("NFC", stage).strip().casefold()
        print(next((s.id for s in p.stages if s.name.casefold() == key), p.id))
    else:
        print(p.id)


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    stage: Annotated[
        list[str],
        typer.Option("--stage", "-s", help="Stage NAME:PERCENT, in order. Repeatable."),
    ],
    json_: JsonOpt = False,
):
    """Add a pipeline with its stages and print its id."""
    _print(deals.add_pipeline(open_db(ctx), name, stage), json_)


@app.command("list")
def list_cmd(
    ctx: typer.Context, json_: JsonOpt = False, ndjson: NdjsonOpt = False, csv_: CsvOpt = False
):
    """List pipelines (the first is the default) with their stages."""
    from crm_cli.commands._output import emit_list, fmt_choice

    fmt = fmt_choice(json_, ndjson, csv_)
    rows = deals.list_pipelines(open_db(ctx))
    if fmt in ("table", "csv"):
        rows = [{**r, "stages": [s["name"] for s in r["stages"]]} for r in rows]
    cols = [("id", "id"), ("name", "name"), ("default", "default"), ("stages", "stages"),
            ("open_deals", "open deals")]  # fmt: skip
    emit_list(rows, cols, fmt)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    pipeline: Annotated[
        str | None, typer.Argument(help="Pipeline name or id (default: the default).")
    ] = None,
    json_: JsonOpt = False,
):
    """Show a pipeline's stages with their probabilities, open deals and amounts."""
    from crm_cli.commands._output import emit_list

    db = open_db(ctx)
    pid = deals.resolve_pipeline(db, pipeline)
    p = deals.get_pipeline(db, pid)
    summary = deals.pipeline_summary(db, pid)
    if json_:
        out = p.to_dict()
        out["stages"] = summary
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    rows = [
        {**s, "probability": f"{s['probability']}%",
         "amounts": "; ".join(f"{v} {c}" for c, v in s["amounts"].items()),
         "weighted": "; ".join(f"{v} {c}" for c, v in s["weighted"].items())}
        for s in summary
    ]  # fmt: skip
    cols = [("position", "#"), ("name", "stage"), ("probability", "win"),
            ("open_deals", "open deals"), ("amounts", "amount"), ("weighted", "weighted")]  # fmt: skip
    emit_list(rows, cols, "table", title=f"{p.name}{' (default)' if p.is_default else ''}")


@stage_app.command("add")
def stage_add_cmd(
    ctx: typer.Context,
    pipeline: PipelineArg,
    name: Annotated[str, typer.Argument(help="Stage name.")],
    probability: Annotated[
        int, typer.Option("--probability", "-p", min=0, max=100, help="Win probability, percent.")
    ],
    position: Annotated[
        int | None, typer.Option("--position", min=1, help="1-based position (default: last).")
    ] = None,
    json_: JsonOpt = False,
):
    """Add a stage to a pipeline and print the stage's id."""
    _print(
        deals.add_stage(open_db(ctx), pipeline, name, probability, position), json_, name.strip()
    )


@stage_app.command("move")
def stage_move_cmd(
    ctx: typer.Context,
    pipeline: PipelineArg,
    stage: StageArg,
    position: Annotated[int, typer.Argument(help="New 1-based position.")],
    json_: JsonOpt = False,
):
    """Move a stage to another position in its pipeline and print its id."""
    p = deals.move_stage(open_db(ctx), pipeline, stage, position)
    _print(p, json_, p.stages[position - 1].name)


@stage_app.command("rename")
def stage_rename_cmd(
    ctx: typer.Context,
    pipeline: PipelineArg,
    stage: StageArg,
    new_name: Annotated[str, typer.Argument(help="The new name.")],
    json_: JsonOpt = False,
):
    """Rename a stage (deals and their history keep pointing at it) and print its id."""
    _print(deals.rename_stage(open_db(ctx), pipeline, stage, new_name), json_, new_name.strip())


@stage_app.command("probability")
def stage_probability_cmd(
    ctx: typer.Context,
    pipeline: PipelineArg,
    stage: StageArg,
    percent: Annotated[int, typer.Argument(min=0, max=100, help="Win probability, percent.")],
    json_: JsonOpt = False,
):
    """Change a stage's win probability and print the stage's id."""
    db = open_db(ctx)
    p = deals.set_probability(db, pipeline, stage, percent)
    _print(p, json_, deals.resolve_stage(db, p.id, stage).name)
