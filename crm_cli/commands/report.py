"""crm report: analytical reports as a table, JSON, CSV or a terminal chart."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_cli.commands._common import CsvOpt, JsonOpt, noun_app, open_db
from crm_cli.domain import reports

app = noun_app(
    "Reports: pipeline, forecast, winrate, cycle, funnel, lost, activity, service, rfm, churn, "
    "team, best, lookalike, conversion, campaign, campaigns, impact, targets. They take filters, a period (--period 2026-Q1, "
    "'last quarter', ytd, or --from/--to) where one applies, --json, --csv and --chart."
)

Filters = Annotated[
    list[str] | None,
    typer.Argument(help="Filter expressions, ANDed (the filter language in README.md)."),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option("--period", "-p", metavar="PERIOD",
                 help="2026, 2026-Q1, 2026-03, 2026-W10, 'last quarter', 'this month', "
                      "'last 30 days', ytd, 2026-01..2026-03."),
]  # fmt: skip
FromOpt = Annotated[
    str | None, typer.Option("--from", metavar="START", help="First day or period (inclusive).")
]
ToOpt = Annotated[
    str | None, typer.Option("--to", metavar="END", help="Last day or period (inclusive).")
]
ChartOpt = Annotated[bool, typer.Option("--chart", help="Draw a bar chart under the table.")]


def _by(choices: str):
    return Annotated[
        str | None, typer.Option("--by", metavar="GROUP", help=f"Group by: {choices}.")
    ]


def _show(ctx: typer.Context, name: str, args: reports.ReportArgs, json_: bool, csv_: bool,
          chart: bool) -> None:  # fmt: skip
    from crm_cli.commands import _report_out
    from crm_cli.commands._output import fmt_choice

    fmt = fmt_choice(json_, False, csv_)
    if chart and fmt != "table":
        from crm_cli.errors import InvalidInput

        raise InvalidInput("--chart draws for people: leave out --json/--csv")
    report = reports.run(open_db(ctx, must_exist=True), name, args)
    _report_out.emit(report, fmt, chart=chart)


@app.command("pipeline")
def pipeline_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Pipeline name or id.")] = None,
    by: _by("stage (default), owner") = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Open deals by stage: count, amount, weighted amount (per currency).

    A period keeps the deals expected to close in it.
    """
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by, pipeline)
    _show(ctx, "pipeline", args, json_, csv_, chart)


@app.command("forecast")
def forecast_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Won, worst case, weighted and best case by expected close month.

    Default period: the last 6 months through the next 6.
    """
    args = reports.ReportArgs(tuple(filters or ()), period, start, end)
    _show(ctx, "forecast", args, json_, csv_, chart)


_CLOSED_BY = "owner (default), source, pipeline, month, quarter, year"


@app.command("winrate")
def winrate_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by(_CLOSED_BY) = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Deals closed in the period: won, lost and win rate per group."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by)
    _show(ctx, "winrate", args, json_, csv_, chart)


@app.command("cycle")
def cycle_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by(_CLOSED_BY) = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Sales-cycle length (days from created to won): median and p90 per group."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by)
    _show(ctx, "cycle", args, json_, csv_, chart)


@app.command("funnel")
def funnel_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Pipeline name or id.")] = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Stage-to-stage conversion and time in stage of the deals created in the period."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, None, pipeline)
    _show(ctx, "funnel", args, json_, csv_, chart)


@app.command("lost")
def lost_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Lost reasons ranked, with the stages deals were lost at."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end)
    _show(ctx, "lost", args, json_, csv_, chart)


@app.command("activity")
def activity_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by("week (default), day, month, quarter, year, person") = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Interactions per channel by week (or day, month, person). Default: the last 12 weeks."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by)
    _show(ctx, "activity", args, json_, csv_, chart)


@app.command("service")
def service_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by("priority (default), assignee, channel, type") = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Tickets: the open backlog by age; response and resolve times, target breaches and
    satisfaction of those opened in the period (default: the last 30 days)."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by)
    _show(ctx, "service", args, json_, csv_, chart)


@app.command("rfm")
def rfm_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by("segment (default), customer") = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="Orders in this currency (default: the most used)."),
    ] = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Customers scored 1-5 on recency, frequency and monetary value of their paid orders
    (quintiles), grouped into segments: champions, loyal, at risk, hibernating, lost…"""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by, currency=currency)
    _show(ctx, "rfm", args, json_, csv_, chart)


@app.command("churn")
def churn_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many to list, most at risk first (0: all).")
    ] = 100,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
):
    """Customers quiet for longer than their own usual gap between orders and interactions
    (times reports.churn_factor), by value at risk, with a suggested next action."""
    if limit < 0:
        from crm_cli.errors import InvalidInput

        raise InvalidInput(f"--limit must be 0 (all) or more, not {limit}")
    args = reports.ReportArgs(tuple(filters or ()), limit=limit)
    _show(ctx, "churn", args, json_, csv_, False)


@app.command("team")
def team_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Per team member (filters: team:sales role:manager): interactions, deals won and lost,
    tickets resolved in the period (default: the last 30 days); open and overdue work now."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end)
    _show(ctx, "team", args, json_, csv_, chart)


TopOpt = Annotated[
    int | None,
    typer.Option("--top", metavar="PCT", help="The best customers: the top PCT% by value (20)."),
]
CurrencyOpt = Annotated[
    str | None, typer.Option("--currency", help="Value in this currency (default: the most used).")
]


@app.command("best")
def best_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    top: TopOpt = None,
    currency: CurrencyOpt = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
):
    """What the best customers (top 20% by paid orders and won deals) share: industry,
    size, source, tags, buying channel, order cadence; each with its lift over all customers."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, currency=currency, top=top)
    _show(ctx, "best", args, json_, csv_, False)


@app.command("lookalike")
def lookalike_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    orgs: Annotated[bool, typer.Option("--orgs", help="Rank organizations, not contacts.")] = False,
    top: TopOpt = None,
    currency: CurrencyOpt = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many to list.")] = 50,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
):
    """Contacts (or --orgs) most like the best customers, with the reasons; filters pick
    the candidates (stage:lead, country:ES)."""
    if limit < 1:
        from crm_cli.errors import InvalidInput

        raise InvalidInput(f"--limit must be at least 1, not {limit}")
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, currency=currency,
                              top=top, limit=limit, orgs=orgs)  # fmt: skip
    _show(ctx, "lookalike", args, json_, csv_, False)


@app.command("conversion")
def conversion_cmd(
    ctx: typer.Context,
    filters: Filters = None,
    by: _by("landing (default), source") = None,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Web visits (crm import visits) by landing page or source: visitors, new contacts,
    customers, conversion, revenue and the path to the first order (filters on visits:
    campaign:spring source:google landing~/pricing). Default period: the last 90 days."""
    args = reports.ReportArgs(tuple(filters or ()), period, start, end, by)
    _show(ctx, "conversion", args, json_, csv_, chart)


WindowOpt = Annotated[
    str | None,
    typer.Option("--window", metavar="DAYS",
                 help="Conversions: orders and won deals this long after the message "
                      "(30, 30d, 4w; default config campaign.conversion_days)."),
]  # fmt: skip


@app.command("campaign")
def campaign_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name or id.")],
    window: WindowOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
):
    """One campaign's results: sent, skipped by reason, bounced, complained, opted out,
    replied, converted, revenue; reach per channel (returned letters, opens, visits), the
    hold-out, coupons, tickets and satisfaction; for ad campaigns cost, CTR and cost per
    conversion."""
    args = reports.ReportArgs((name,), window=window)
    _show(ctx, "campaign", args, json_, csv_, False)


@app.command("campaigns")
def campaigns_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
    window: WindowOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """All campaigns side by side (a period keeps those first sent in it), newest first."""
    args = reports.ReportArgs((), period, start, end, window=window)
    _show(ctx, "campaigns", args, json_, csv_, chart)


@app.command("impact")
def impact_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name or id.")],
    metric: Annotated[
        str, typer.Option("--metric", help="orders, revenue or visits (per customer).")
    ] = "orders",
    window: Annotated[
        str, typer.Option("--window", metavar="DAYS", help="Each side of the start: 56, 56d, 8w.")
    ] = "8w",
    weekday: Annotated[
        str | None,
        typer.Option("--weekday", metavar="DAYS", help="Count only these days: sat,sun, weekend."),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option("--control", help="holdout (default when the campaign has one) or matched."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", metavar="DAY", help="The start day (default: its first reach)."),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option("--currency", help="Revenue in this currency (default: most used)."),
    ] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Did the campaign change behaviour? Recipients against a control group (its hold-out,
    or non-recipients matched on RFM), before and after: difference in differences with a
    95% bootstrap interval, and the response rate."""
    args = reports.ReportArgs((name,), start=start, currency=currency, window=window,
                              metric=metric, weekdays=weekday, control=control)  # fmt: skip
    _show(ctx, "impact", args, json_, csv_, chart)


@app.command("targets")
def targets_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
    chart: ChartOpt = False,
):
    """Sales targets per person and team (default period: this quarter): target, won,
    weighted pipeline closing in it, attainment, projected attainment, elapsed and gap."""
    args = reports.ReportArgs((), period)
    _show(ctx, "targets", args, json_, csv_, chart)
