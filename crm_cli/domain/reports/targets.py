"""The targets report: attainment of sales targets per person and per team."""

from __future__ import annotations

from crm_cli.domain import dates, targets
from crm_cli.domain.reports import Chart, Col, Report, ReportArgs
from crm_cli.storage.db import Db


def targets_report(db: Db, args: ReportArgs) -> Report:
    """Per person, then per team, per currency, for the period (default: this quarter):
    target, won so far, weighted pipeline expected to close in it, attainment (won /
    target), projected attainment ((won + weighted) / target), share of the period
    elapsed and the gap (target - won)."""
    period = args.resolve_period("this quarter")
    assert period is not None
    rows = []
    for r in targets.figures(db, period, dates.now()):
        r.pop("_id")
        rows.append(r)
    cols = [Col("kind", "kind"), Col("name", "name"), Col("team", "team"),
            Col("currency", "currency"), Col("target", "target", "money"),
            Col("won", "won", "money"), Col("pipeline", "weighted pipeline", "money"),
            Col("attainment", "attain %", "pct"), Col("projected", "projected %", "pct"),
            Col("elapsed", "elapsed %", "pct"), Col("gap", "gap", "money")]  # fmt: skip
    notes = []
    if not any(r["target"] for r in rows):
        notes.append(f"no targets for {period.label} (crm target set … --period {period.label})")
    return Report("targets", f"Sales targets, {period.label}", cols, rows, period, (),
                  notes=notes,
                  chart=Chart("name", (("target", "target"), ("won", "won"),
                                       ("pipeline", "weighted pipeline")), money=True))  # fmt: skip
