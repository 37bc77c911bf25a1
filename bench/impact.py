#!/usr/bin/env python3
"""How well `crm report impact` recovers a planted campaign effect: bias, spread and the
coverage of its 95% interval, with the hold-out and with the matched control.

Simulates the convenience-store example of tests/test_campaign_impact.py --runs times
(seeds 1..N), each into a fresh temp database, through the CLI in this process
(typer's CliRunner on crm_cli.cli.app, the clock set with CRM_NOW, time.zone
Europe/Madrid):

- --customers loyalty customers (default 200) imported, segment `tag:loyalty`, a campaign
  "Weekend promo" with a --holdout % hold-out (default 10, its draw seeded per run),
  emailed on Monday 2026-03-30 into an outbox (what marks its recipients as reached);
- 16 weeks of till orders (2026-02-02 .. 2026-05-24) drawn as the test draws them:
  weekend days with each customer's own p (0.10 to 0.55), weekdays 0.08; from the start
  +0.05 a weekend day for everyone (a trend) and +0.15 more for recipients only, so
  the planted effect is 0.15 x 16 weekend days = 2.4 weekend orders per customer in the
  8 weeks after. The letters, receipts and coupons of the test are left out: the impact
  report does not read them.

Then `crm report impact "Weekend promo" --weekday sat,sun --json` with the hold-out
control and again with `--control matched`, keeping the difference-in-differences row
(change, low, high). The hold-out estimate is checked against the same difference
computed from the generated orders (a mismatch fails loudly, exit 1). Every customer is
in the segment, so the matched control can only draw on the hold-out: at 200 customers
(20 held out) the report falls back to all non-recipients, unmatched, and both figures
agree; at --large (200 held out) it matches on coarse RFM cells.

Prints, per control: the planted effect, the mean and median estimate, the bias, the
empirical standard deviation of the estimates beside the mean interval width and the
standard error it implies (width / 3.92), the coverage (share of runs whose interval
holds the planted effect: near 0.95 if the interval is right), the share of intervals
that exclude 0 (power), and the wall time of a run (build and both reports) and of
each report. With --large, the same again for a larger store (--large-customers,
--large-holdout, --large-runs).

Output: `name value unit` lines on stdout; notes on stderr.
Run with the venv's python:  .venv/bin/python bench/impact.py [--runs N] [--customers N]
[--holdout PCT] [--large] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TempDir, emit, note  # noqa: E402

WEEK0 = date(2026, 2, 2)  # a Monday
START = WEEK0 + timedelta(weeks=8)  # 2026-03-30, a Monday
END = WEEK0 + timedelta(weeks=16)  # 2026-05-25, exclusive
EFFECT = 0.15  # extra weekend orders a day for recipients after the start
TREND = 0.05  # extra weekend orders a day for everyone after the start
PLANTED = EFFECT * 16  # weekend orders per customer over the 8 weeks after
NAME = "Weekend promo"
CONTROLS = ("holdout", "matched")
Z95 = 2 * 1.959964  # a 95% normal interval is this many standard errors wide


def fail(msg: str) -> None:
    note(f"FAIL: {msg}")
    sys.exit(1)


class Crm:
    """crm commands in this process (CliRunner), stdout and stderr apart."""

    def __init__(self):
        from typer.testing import CliRunner

        from crm_cli.cli import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str) -> str:
        r = self.runner.invoke(self.app, list(args))
        if r.exit_code != 0:
            fail(f"crm {' '.join(args)} exited {r.exit_code}\nstdout: {r.stdout[-2000:]}\n"
                 f"stderr: {r.stderr[-2000:]}\n{r.exception!r}")  # fmt: skip
        return r.stdout

    def json(self, *args: str):
        return json.loads(self(*args, "--json"))


def at(day: date, clock: str = "08:00") -> None:
    os.environ["CRM_NOW"] = f"{day.isoformat()}T{clock}:00+02:00"


def write_csv(path: Path, header: list[str], rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def build(crm: Crm, tmp: Path, seed: int, customers: int, holdout_pct: float) -> dict:
    """The store of tests/test_campaign_impact.py's _build, drawn from seed, minus the
    letters, receipts and coupons; returns the hold-out, the recipients and the DiD of
    the weekend orders computed by hand."""
    tmp.mkdir()
    cfg = tmp / "config"
    cfg.mkdir()
    (cfg / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n[campaign]\nfrom = "promo@store.example"\n'
        'unsubscribe_url = "https://store.example/u/{token}"\n',
        encoding="utf-8",
    )
    os.environ.update(CRM_DB=str(tmp / "crm.db"), CRM_CONFIG_DIR=str(cfg), CRM_USER="bench")
    rng = random.Random(seed)
    at(WEEK0 - timedelta(days=7))
    people = [
        (f"Customer {i:04d}", f"c{i:04d}@example.com", f"{i} Calle Mayor", "Madrid",
         f"280{i % 50:02d}", "loyalty")
        for i in range(customers)
    ]  # fmt: skip
    crm("import", "contacts", write_csv(tmp / "customers.csv",
        ["Name", "Email", "Street", "City", "Postal Code", "Tags"], people))  # fmt: skip
    crm("segment", "add", "loyalty", "tag:loyalty")
    (tmp / "promo.txt").write_text("Hi {{ first_name | default('there') }}, weekends are on us.\n")
    crm("campaign", "add", NAME, "--segment", "loyalty", "--subject", "Your weekend treat",
        "--template", str(tmp / "promo.txt"), "--holdout", f"{holdout_pct:g}%",
        "--seed", f"bench-{seed}")  # fmt: skip

    at(START)
    crm("campaign", "send", NAME, "--outbox", str(tmp / "outbox"))
    holdout = {r["email"] for r in crm.json("campaign", "audience", NAME, "--holdout")}
    targets = {r["email"] for r in crm.json("campaign", "audience", NAME)}
    if not holdout or not targets or holdout & targets or len(holdout | targets) != customers:
        fail(f"seed {seed}: {len(holdout)} held out, {len(targets)} recipients of {customers}")

    orders, weekend = [], {}  # weekend: email -> [before, after]
    n = 0
    for _, email, *_ in people:
        p = rng.uniform(0.10, 0.55)
        counts = weekend[email] = [0, 0]
        day = WEEK0
        while day < END:
            is_weekend = day.weekday() >= 5
            prob = p if is_weekend else 0.08
            if is_weekend and day >= START:
                prob += TREND + (EFFECT if email in targets else 0)
            if rng.random() < prob:
                n += 1
                total = f"{rng.randint(300, 4000) / 100:.2f}"
                orders.append((f"T{n:06d}", email, day.isoformat(), "paid", "EUR", total, "",
                               "Basket", 1, total))  # fmt: skip
                if is_weekend:
                    counts[day >= START] += 1
            day += timedelta(days=1)
    at(END + timedelta(days=7))  # 2026-06-01: everything is in the past
    rejects = tmp / "orders.rejects.csv"
    crm("import", "orders", write_csv(tmp / "orders.csv",
        ["Number", "Contact", "Date", "Status", "Currency", "Total", "Coupon", "Description",
         "Quantity", "Unit Price"], orders), "--rejects", str(rejects))  # fmt: skip
    if rejects.exists() and rejects.stat().st_size > 0:
        fail(f"seed {seed}: the orders import rejected rows (see {rejects}, --keep DIR)")

    def change(group: set[str]) -> float:
        return statistics.fmean(weekend[e][1] - weekend[e][0] for e in group)

    return {"holdout": holdout, "targets": targets, "did": change(targets) - change(holdout)}


def did_row(report: dict) -> dict:
    for r in report["rows"]:
        if r.get("group") == "difference in differences":
            return r
    fail(f"no difference-in-differences row in {report}")
    raise AssertionError("unreachable")


def simulate(crm: Crm, root: Path, runs: int, customers: int, holdout_pct: float, tag: str):
    """runs fresh stores; per control the list of (change, low, high), and timings."""
    est: dict[str, list[tuple[float, float, float]]] = {c: [] for c in CONTROLS}
    secs = {"run": [], **{c: [] for c in CONTROLS}}
    truth = []
    for seed in range(1, runs + 1):
        t0 = time.perf_counter()
        shop = build(crm, root / f"{tag}-{seed}", seed, customers, holdout_pct)
        truth.append(shop["did"])
        for control in CONTROLS:
            t1 = time.perf_counter()
            rep = crm.json("report", "impact", NAME, "--weekday", "sat,sun",
                           *(["--control", control] if control != "holdout" else []))  # fmt: skip
            secs[control].append(time.perf_counter() - t1)
            row = did_row(rep)
            est[control].append((row["change"], row["low"], row["high"]))
            if control == "holdout" and abs(row["change"] - shop["did"]) > 1e-3:
                fail(f"seed {seed}: the report's hold-out DiD {row['change']} is not the one "
                     f"computed from the orders, {shop['did']:.4f}")  # fmt: skip
        secs["run"].append(time.perf_counter() - t0)
        if seed == 1 or seed % 10 == 0 or seed == runs:
            h, m = est["holdout"][-1], est["matched"][-1]
            note(f"  {tag} run {seed}/{runs}: hold-out {h[0]:+.2f} ({h[1]:+.2f} to {h[2]:+.2f}), "
                 f"matched {m[0]:+.2f} ({m[1]:+.2f} to {m[2]:+.2f}), "
                 f"{secs['run'][-1]:.2f} s")  # fmt: skip
    return est, secs, truth


def summarise(tag: str, est: dict, secs: dict, truth: list[float]) -> None:
    emit(f"{tag}_planted", PLANTED, "orders/customer")
    emit(f"{tag}_runs", len(truth), "runs")
    # The DiD of the generated orders themselves: what a perfect hold-out estimator sees.
    emit(f"{tag}_sample_did_mean", statistics.fmean(truth), "orders/customer")
    for control in CONTROLS:
        rows = est[control]
        changes = [c for c, _, _ in rows]
        widths = [hi - lo for _, lo, hi in rows]
        sd = statistics.stdev(changes) if len(changes) > 1 else float("nan")
        mean = statistics.fmean(changes)
        p = f"{tag}_{control}"
        emit(f"{p}_mean", mean, "orders/customer")
        emit(f"{p}_median", statistics.median(changes), "orders/customer")
        emit(f"{p}_bias", mean - PLANTED, "orders/customer")
        emit(f"{p}_bias_se", sd / math.sqrt(len(changes)), "orders/customer")
        emit(f"{p}_sd", sd, "orders/customer")
        emit(f"{p}_rmse", math.sqrt(statistics.fmean((c - PLANTED) ** 2 for c in changes)),
             "orders/customer")  # fmt: skip
        emit(f"{p}_width_mean", statistics.fmean(widths), "orders/customer")
        emit(f"{p}_implied_se", statistics.fmean(widths) / Z95, "orders/customer")
        cover = sum(lo <= PLANTED <= hi for _, lo, hi in rows) / len(rows)
        emit(f"{p}_coverage", cover, "share")
        emit(f"{p}_coverage_se", math.sqrt(cover * (1 - cover) / len(rows)), "share")
        emit(f"{p}_miss_low", sum(hi < PLANTED for _, _, hi in rows) / len(rows), "share")
        emit(f"{p}_miss_high", sum(lo > PLANTED for _, lo, _ in rows) / len(rows), "share")
        emit(f"{p}_excludes_0", sum(lo > 0 or hi < 0 for _, lo, hi in rows) / len(rows), "share")
        emit(f"{p}_report_time", statistics.fmean(secs[control]), "s")
    emit(f"{tag}_run_time", statistics.fmean(secs["run"]), "s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", "-n", type=int, default=100, help="simulated stores (default 100)")
    ap.add_argument("--customers", type=int, default=200, help="customers (default 200)")
    ap.add_argument("--holdout", type=float, default=10.0, help="hold-out %% (default 10)")
    ap.add_argument("--large", action="store_true",
                    help="then the same for a larger store (the --large-* options)")  # fmt: skip
    ap.add_argument("--large-runs", type=int, default=30, help="its runs (default 30)")
    ap.add_argument("--large-customers", type=int, default=1000, help="its customers (1000)")
    ap.add_argument("--large-holdout", type=float, default=20.0, help="its hold-out %% (20)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (new or empty) and keep it")
    a = ap.parse_args()
    if a.runs < 1 or a.customers < 10 or a.large_runs < 1 or a.large_customers < 10:
        ap.error("--runs must be at least 1 and --customers at least 10")
    if not 0 < a.holdout < 100 or not 0 < a.large_holdout < 100:
        ap.error("--holdout must be between 0 and 100 (exclusive)")
    for k in ("CRM_NOW", "CRM_TRACE"):
        os.environ.pop(k, None)
    if a.keep:
        keep = Path(a.keep).resolve()
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            ap.error(f"--keep {keep}: not empty")
        ctx = TempDir("crm-bench-impact-", keep=True)
        os.rmdir(ctx.path)
        ctx.path = keep
    else:
        ctx = TempDir("crm-bench-impact-")
    crm = Crm()
    with ctx as tmp:
        scenarios = [("impact", a.runs, a.customers, a.holdout)]
        if a.large:
            scenarios.append(("impact_large", a.large_runs, a.large_customers, a.large_holdout))
        for tag, runs, customers, pct in scenarios:
            note(f"{tag}: {runs} runs of {customers} customers, {pct:g}% hold-out, "
                 f"planted effect {PLANTED:.2f} weekend orders a customer")  # fmt: skip
            est, secs, truth = simulate(crm, tmp, runs, customers, pct, tag)
            emit(f"{tag}_customers", customers, "customers")
            emit(f"{tag}_holdout_pct", pct, "%")
            summarise(tag, est, secs, truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
