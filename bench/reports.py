#!/usr/bin/env python3
"""Every `crm report` and `crm alerts` on 100,000 contacts, 50,000 deals with history,
1,000,000 activities and 200,000 orders, each beside a plain-SQL anchor timed in the same run.

1. Seeds a database as bench/timeline.py does (its `data_dir` and `seed_rest`: contacts
   through `crm contact add --from-ndjson`, gen_data.py's activities, 50,000 deals,
   25,000 follow-ups), then adds with plain SQL in one transaction (seed data, not
   commands; random.Random(11), so every run seeds the same rows):
   - 5 users in 2 teams (sales: ana, ben, carla; support: dev, eva); deal owners,
     activity actors, follow-up and ticket assignees and contact owners spread over them;
   - deal history: every deal rewritten (status open 35 % / won 25 % / lost 40 %, 5 %
     in USD, 3 % without an amount, a source, an owner) with its moves lead -> ... -> its
     stage (a tenth skip a stage, a few step back and forward again; days in a stage
     exponential, mean 12), won and lost deals a closing move at closed_at, lost reasons
     in mixed spellings (`Price`, `price.`, `PRICE `, `precio`…), open deals' expected
     close dates over 2024-2026; the activities of a deal's contact within the deal's
     lifetime are linked to it (activities.deal_id);
   - 200,000 orders (40 % of contacts buy, Pareto-skewed counts, each customer active
     over a window of 2020-2025 so some stop buying; 5 % of customers in USD; 3 %
     refunded, 1 % cancelled; source shop/pos/phone/web, mostly each customer's own
     channel; amounts larger in some industries), then `summaries.refresh_all`;
   - 20,000 tickets over 2024-2025 (priorities, due_at = opened + the default response
     target, first responses for ~90 %, ~70 % resolved, some rated 1-5);
   - industry and size for most organizations, a source for 60 % of contacts;
   - 100,000 web visits over 2025, ~40 % linked to contacts, landing pages with query
     strings, referrers, UTM tags.
2. Times in-process through the domain layer (`reports.run(db, NAME, ReportArgs(...))`,
   `alerts.collect(db, ana)` and `alerts.run(db, "ana", dry_run=True)`), best of --runs after
   a warm-up (fewer runs for a case slower than 0.3 s), the clock at the data's "today"
   CRM_NOW=2026-01-01T09:00:00Z, time.zone Europe/Madrid. Each case prints its ms, its
   anchor's ms and report/anchor, and its row count.
3. Prints on stderr, per case, each distinct SQL statement the report really ran (traced)
   with its own time re-run alone and its EXPLAIN QUERY PLAN ("<-- full scan" marks a
   SCAN without an index), and the SQL share of the report's time.
4. End to end: `crm report pipeline --json` and `crm report activity --json` as
   subprocesses beside `sqlite-utils --version` and `crm --version` (timeline.end_to_end).

Anchors: one SQL query each, written naively -- what someone without our schema work
would run over the same tables to answer the same question (no summary columns, no
covering indexes chosen for it):
- pipeline: open deals GROUP BY stage_id, currency (count, sum); --by owner adds owner_id;
- forecast: open deals GROUP BY substr(expected_close_date, 1, 7), currency, then won
  deals GROUP BY substr(closed_at, 1, 7), currency;
- winrate: closed deals GROUP BY owner_id, status; --by month: substr(closed_at, 1, 7), status;
- cycle: julianday(closed_at) - julianday(created_at) of every won deal, all rows fetched;
- funnel: deal_moves JOIN stages GROUP BY stage: count(DISTINCT deal_id);
- lost: lost deals GROUP BY lower(trim(lost_reason)), stage_id;
- activity (last 12 weeks by week): strftime('%Y-%W') and kind, count, occurred_at in the
  last 84 days; --by person: actor_id and kind; --by month over everything: the issue's
  `SELECT strftime('%Y-%m', occurred_at) m, kind, count(*) FROM activities GROUP BY m, kind`;
- service: tickets of the last 30 days GROUP BY priority with avg response, resolve
  hours and satisfaction;
- rfm: paid EUR orders GROUP BY contact_id (count, sum, max date), all rows fetched;
- churn: the issue's "quiet for 90 days": `SELECT contact_id FROM activity_participants
  GROUP BY contact_id HAVING max(occurred_at) < ?`;
- team: activities of the last 30 days GROUP BY actor_id;
- best: paid EUR orders UNION ALL won EUR deals, value GROUP BY contact_id, fetched;
- lookalike: contacts JOIN orgs WHERE industry = 'software', fetched; --orgs: orgs of
  that industry with their people counted;
- conversion: web visits of the last 90 days GROUP BY landing_page (count, distinct visitors);
- alerts: open deals LEFT JOIN activities ON deal_id GROUP BY deal: max(occurred_at).

Goals (the issue): activity <= 135 ms, churn <= 120 ms, pipeline <= 50 ms, alerts <= 150 ms,
every other report <= 300 ms; an ok/OVER line per case at the end (stderr).
Output: `name value unit` lines on stdout; notes, query plans and verdicts on stderr.
Run with the venv's python:  .venv/bin/python bench/reports.py [--data DIR] [--quick]
(--data: contacts.csv + activities.csv from gen_data.py, else they are generated (needs
Faker); --quick: 10,000 contacts and the rest scaled, 3 runs; --keep keeps the temp dir
and its bench.db; --large-db FILE reuses such a seeded database: nothing is written to it;
--only CASE times one case; --profile adds a cProfile of each case over its goal.)
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sqlite3
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    TempDir,
    best_of,
    bulk_add,
    crm_env,
    emit,
    init_db,
    note,
    read_rows,
    use_env_in_process,
)
from timeline import NOW, data_dir, end_to_end, seed_rest  # noqa: E402

NOW_DT = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
ZONE = "Europe/Madrid"
CASE_BUDGET_S = 3.0  # timed runs per case: at most this much wall time (at least 3 runs)
GOALS_MS = {"activity": 135.0, "churn": 120.0, "pipeline": 50.0, "alerts": 150.0}
OTHER_GOAL_MS = 300.0

USERS = [("ana", "sales", "manager"), ("ben", "sales", "rep"), ("carla", "sales", "rep"),
         ("dev", "support", "agent"), ("eva", "support", "manager")]  # fmt: skip
INDUSTRIES = [("Software", 14), ("Retail", 20), ("Manufacturing", 16), ("Health", 10),
              ("Finance", 8), ("Hospitality", 12), ("Logistics", 10), ("Education", 10)]  # fmt: skip
# Order amounts by industry: the best customers lean to some (a profile to find).
INDUSTRY_SPEND = {"Software": 2.2, "Finance": 1.8, "Manufacturing": 1.3}
SIZES = [("1-10", 30), ("11-50", 30), ("51-200", 20), ("201-1000", 12), ("1000+", 8)]
SOURCES = [("web", 35), ("referral", 20), ("fair", 10), ("partner", 15), ("cold call", 10),
           (None, 10)]  # fmt: skip
LOST_REASONS = [("Price", 14), ("price.", 8), ("PRICE ", 3), ("too expensive", 6),
                ("Too expensive", 4), ("Competitor", 10), ("competitor", 6),
                ("went with competitor", 5), ("No budget", 8), ("no budget", 5),
                ("Timing", 7), ("timing", 3), ("no response", 6), ("precio", 3),
                ("Precio", 2), (None, 10)]  # fmt: skip
CHANNELS = ["shop", "pos", "phone", "web"]
TARGET_H = {"urgent": 1, "high": 4, "normal": 24, "low": 72}  # the default ticket.target.*
LANDINGS = ["https://shop.example.com/", "https://shop.example.com/pricing",
            "https://shop.example.com/pricing?utm_source=google", "/blog/how-to-choose",
            "/blog/spring-sale", "https://shop.example.com/products/widget",
            "https://shop.example.com/products/gadget?ref=nav", "/contact", "/landing/spring",
            "https://shop.example.com/landing/spring?utm_campaign=spring"]  # fmt: skip
REFERRERS = [("https://www.google.com/", 40), ("https://www.facebook.com/", 10),
             ("https://news.example.org/article", 5), (None, 45)]  # fmt: skip
UTM = [(("google", "cpc", "brand"), 20), (("newsletter", "email", "spring"), 12),
       (("facebook", "social", "spring"), 8), ((None, None, None), 60)]  # fmt: skip


def ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pick(rng: random.Random, weighted: list[tuple]) -> object:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


# ---------------------------------------------------------------- seeding


def enrich(db_path: Path, n_orders: int, n_tickets: int, n_visits: int) -> None:
    """Users, deal history, orders, tickets, org attributes, web visits: plain SQL in one
    transaction, then the contact summaries recomputed."""
    from crm_cli.storage import open_db
    from crm_cli.storage.summaries import refresh_all

    rng = random.Random(11)
    db = open_db(db_path)
    conn = db.conn
    t_all = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")

    # -- users and teams
    team_ids = {}
    for team in ("sales", "support"):
        team_ids[team] = conn.execute(
            "INSERT INTO teams (name, created_at) VALUES (?, ?)", (team, "2020-01-01T00:00:00Z")
        ).lastrowid
    uid = {}
    for name, team, role in USERS:
        uid[name] = conn.execute(
            "INSERT INTO users (name, email, role, team_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (name, f"{name}@example.com", role, team_ids[team], "2020-01-01T00:00:00Z",
             "2020-01-01T00:00:00Z"),
        ).lastrowid  # fmt: skip
    deal_owners = [(uid["ana"], 25), (uid["ben"], 30), (uid["carla"], 30), (uid["dev"], 10),
                   (uid["eva"], 5)]  # fmt: skip
    agents = [(uid["dev"], 45), (uid["eva"], 35), (uid["ana"], 8), (uid["ben"], 4),
              (uid["carla"], 3), (None, 5)]  # fmt: skip
    u = [uid[n] for n, _, _ in USERS]

    # -- activities' actors (skewed: ana 20 %, ben and carla 25 %, dev and eva 15 %)
    t0 = time.perf_counter()
    conn.execute(
        "UPDATE activities SET actor_id = CASE WHEN (id * 7 + 3) % 20 < 4 THEN ?"
        " WHEN (id * 7 + 3) % 20 < 9 THEN ? WHEN (id * 7 + 3) % 20 < 14 THEN ?"
        " WHEN (id * 7 + 3) % 20 < 17 THEN ? ELSE ? END",
        u,
    )
    conn.execute("UPDATE followups SET assignee_id = ? + id % 5", (u[0],))
    note(f"  activities' actors, follow-ups' assignees in {time.perf_counter() - t0:.1f} s")

    # -- organizations and contacts: attributes
    t0 = time.perf_counter()
    org_ids = [r[0] for r in conn.execute("SELECT id FROM orgs ORDER BY id")]
    industry_of: dict[int, str | None] = {}
    org_rows = []
    for oid in org_ids:
        ind = pick(rng, INDUSTRIES) if rng.random() < 0.85 else None
        size = pick(rng, SIZES) if rng.random() < 0.8 else None
        industry_of[oid] = ind
        org_rows.append((ind, size, oid))
    conn.executemany("UPDATE orgs SET industry = ?, size = ? WHERE id = ?", org_rows)
    contacts = conn.execute("SELECT id, org_id FROM contacts ORDER BY id").fetchall()
    org_of = dict(contacts)
    conn.executemany(
        "UPDATE contacts SET source = ?, owner_id = ? WHERE id = ?",
        [(pick(rng, SOURCES[:-1]) if rng.random() < 0.6 else None,
          rng.choice(u[:3]) if rng.random() < 0.7 else None, cid) for cid, _ in contacts],
    )  # fmt: skip
    note(f"  {len(org_ids)} orgs' industry and size, contacts' source and owner in "
         f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    # -- deals and their history
    t0 = time.perf_counter()
    stages = [r[0] for r in conn.execute(
        "SELECT id FROM stages WHERE pipeline_id = 1 ORDER BY position, id")]  # fmt: skip
    top_weights = {"open": (40, 30, 20, 10), "won": (5, 10, 30, 55), "lost": (35, 30, 25, 10)}
    first_close = datetime(2022, 3, 1, tzinfo=UTC)
    deal_rows, moves = [], []
    for did, amount in conn.execute("SELECT id, amount_minor FROM deals ORDER BY id").fetchall():
        status = rng.choices(("open", "won", "lost"), (35, 25, 40))[0]
        top = rng.choices(range(len(stages)), top_weights[status])[0]
        owner = pick(rng, deal_owners)
        # The path as (days after creation, from stage index, to stage index).
        path, t, cur = [], 0.0, 0
        while cur < top:
            step = 2 if cur + 2 <= top and rng.random() < 0.1 else 1
            t += rng.expovariate(1 / 12)
            path.append((t, cur, cur + step))
            cur += step
            if cur > 0 and rng.random() < 0.04:  # back one stage, then forward again
                t += rng.expovariate(1 / 6)
                path.append((t, cur, cur - 1))
                t += rng.expovariate(1 / 6)
                path.append((t, cur - 1, cur))
        span = t + (rng.expovariate(1 / 12) if status != "open" else 0.0)
        if status == "open":  # stage entered some time ago: a fraction goes stale
            end = NOW_DT - timedelta(days=min(700.0, rng.expovariate(1 / 25)) + 0.1)
        else:
            end = first_close + (NOW_DT - timedelta(days=1) - first_close) * rng.random()
        created = end - timedelta(days=span)
        at = [created + timedelta(days=d) for d, _, _ in path]
        stage_entered = at[-1] if at else created
        moves.append((did, None, stages[0], None, "open", ts(created), owner))
        for (_, a, b), when in zip(path, at, strict=True):
            moves.append((did, stages[a], stages[b], "open", "open", ts(when), owner))
        closed = None
        if status != "open":
            closed = ts(end)
            moves.append((did, stages[cur], stages[cur], "open", status, closed, owner))
            close_date = (end + timedelta(days=rng.uniform(-30, 30))).date().isoformat()
        else:
            close_date = (date(2024, 1, 1) + timedelta(days=rng.randint(0, 1095))).isoformat()
        r = rng.random()
        cur_code = None if r < 0.03 else "USD" if r < 0.08 else "EUR"
        deal_rows.append((
            stages[cur], status,
            pick(rng, LOST_REASONS) if status == "lost" else None,
            amount if cur_code else None, cur_code, close_date, owner, pick(rng, SOURCES),
            ts(stage_entered), closed, ts(created), closed or ts(stage_entered), did,
        ))  # fmt: skip
    conn.executemany(
        "UPDATE deals SET stage_id = ?, status = ?, lost_reason = ?, amount_minor = ?,"
        " currency = ?, expected_close_date = ?, owner_id = ?, source = ?, stage_entered_at = ?,"
        " closed_at = ?, created_at = ?, updated_at = ? WHERE id = ?",
        deal_rows,
    )
    conn.execute("DELETE FROM deal_moves")
    conn.executemany(
        "INSERT INTO deal_moves (deal_id, from_stage_id, to_stage_id, from_status, to_status,"
        " moved_at, actor_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        moves,
    )
    # A deal's activities: its contact's, within the deal's lifetime.
    linked = conn.execute(
        """UPDATE activities SET deal_id = (
             SELECT max(d.id) FROM activity_participants p JOIN deals d ON d.contact_id = p.contact_id
             WHERE p.activity_id = activities.id AND p.occurred_at >= d.created_at
               AND p.occurred_at <= coalesce(d.closed_at, '9999'))
           WHERE id IN (
             SELECT p.activity_id FROM deals d
             JOIN activity_participants p ON p.contact_id = d.contact_id
               AND p.occurred_at >= d.created_at AND p.occurred_at <= coalesce(d.closed_at, '9999'))"""
    ).rowcount
    note(f"  {len(deal_rows)} deals, {len(moves)} moves, {linked} activities linked to deals in "
         f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    # -- orders
    t0 = time.perf_counter()
    ids = [cid for cid, _ in contacts]
    customers = rng.sample(ids, max(1, int(len(ids) * 0.4)))
    weights = [rng.paretovariate(1.2) for _ in customers]
    start0 = date(2020, 1, 1)
    last_day = date(2025, 12, 31)
    days_all = (last_day - start0).days
    prof = {}
    for cid in customers:
        a = start0 + timedelta(days=rng.randint(0, days_all - 30))
        b = last_day if rng.random() < 0.3 else min(
            last_day, a + timedelta(days=int(rng.expovariate(1 / 900)) + 30))  # fmt: skip
        ind = industry_of.get(org_of.get(cid))
        prof[cid] = (a, (b - a).days, "USD" if rng.random() < 0.05 else "EUR",
                     rng.choice(CHANNELS), INDUSTRY_SPEND.get(ind, 1.0))  # fmt: skip
    orders = []
    for i, cid in enumerate(rng.choices(customers, weights, k=n_orders), 1):
        a, span, cur_code, channel, factor = prof[cid]
        day = (a + timedelta(days=rng.randint(0, span))).isoformat()
        r = rng.random()
        st = "refunded" if r < 0.03 else "cancelled" if r < 0.04 else "paid"
        src = channel if rng.random() < 0.75 else rng.choice(CHANNELS)
        total = max(100, int(rng.lognormvariate(8.3, 0.9) * factor))
        orders.append((cid, f"SO-{i:07d}", day, st, total, cur_code, src, f"{day}T12:00:00Z",
                       f"{day}T12:00:00Z"))  # fmt: skip
    conn.executemany(
        "INSERT INTO orders (contact_id, number, order_date, status, total_minor, currency,"
        " source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        orders,
    )
    note(f"  {len(orders)} orders of {len(customers)} customers in "
         f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    # -- tickets
    t0 = time.perf_counter()
    first_ticket = datetime(2024, 1, 1, tzinfo=UTC)
    tickets = []
    for i in range(1, n_tickets + 1):
        created = first_ticket + (NOW_DT - first_ticket) * rng.random()
        prio = pick(rng, [("low", 20), ("normal", 50), ("high", 20), ("urgent", 10)])
        target = timedelta(hours=TARGET_H[prio])
        recent = NOW_DT - created < timedelta(days=30)
        resolved = rng.random() < (0.35 if recent else 0.75)
        responded = resolved or rng.random() < 0.6
        first = created + target * rng.expovariate(1 / 0.7) if responded else None
        if first is not None and first > NOW_DT:
            first = None
        res = None
        if resolved:
            res = (first or created) + timedelta(hours=rng.expovariate(1 / 30))
            if res > NOW_DT:
                res = None
        if res is not None:
            status = "closed" if rng.random() < 0.5 else "resolved"
        else:
            status = "pending" if first and rng.random() < 0.3 else "open" if first else "new"
        tickets.append((
            f"Ticket {i}", pick(rng, [("question", 40), ("problem", 30), ("incident", 15),
                                      ("request", 15)]),
            rng.choice(ids), pick(rng, [("email", 50), ("phone", 25), ("chat", 15), ("web", 10)]),
            prio, status, pick(rng, agents), ts(created + target),
            ts(first) if first else None, ts(res) if res else None,
            ts(res) if res and status == "closed" else None,
            rng.randint(1, 5) if res and rng.random() < 0.3 else None,
            ts(created), ts(res or first or created),
        ))  # fmt: skip
    conn.executemany(
        "INSERT INTO tickets (subject, type, contact_id, channel, priority, status, assignee_id,"
        " due_at, first_response_at, resolved_at, closed_at, satisfaction, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tickets,
    )
    note(f"  {len(tickets)} tickets in {time.perf_counter() - t0:.1f} s")

    # -- web visits over 2025: visitors, some known (mostly customers)
    t0 = time.perf_counter()
    n_visitors = max(1, n_visits // 3)
    known = set(customers)
    others = [c for c in ids if c not in known]
    visitor_contact = []
    for _ in range(n_visitors):
        if rng.random() < 0.4:
            pool = customers if rng.random() < 0.7 or not others else others
            visitor_contact.append(rng.choice(pool))
        else:
            visitor_contact.append(None)
    v_weights = [rng.paretovariate(1.5) for _ in range(n_visitors)]
    year0 = datetime(2025, 1, 1, tzinfo=UTC)
    year = datetime(2026, 1, 1, tzinfo=UTC) - year0
    visits = []
    for v in rng.choices(range(n_visitors), v_weights, k=n_visits):
        at = ts(year0 + year * rng.random())
        src, medium, campaign = pick(rng, UTM)
        visits.append((f"v{v:06d}", visitor_contact[v], at, rng.choice(LANDINGS),
                       pick(rng, REFERRERS), src, medium, campaign, rng.randint(1, 12), at))  # fmt: skip
    conn.executemany(
        "INSERT INTO web_visits (visitor_id, contact_id, started_at, landing_page, referrer,"
        " utm_source, utm_medium, utm_campaign, pages, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        visits,
    )
    note(f"  {len(visits)} web visits of {n_visitors} visitors in "
         f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    t0 = time.perf_counter()
    refresh_all(db)
    conn.execute("COMMIT")
    note(f"  summaries and commit in {time.perf_counter() - t0:.1f} s")
    note(f"enriched in {time.perf_counter() - t_all:.1f} s")
    db.close()


def counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("contacts", "orgs", "users", "activities", "deals", "deal_moves",
                          "followups", "orders", "tickets", "web_visits")}  # fmt: skip


# ---------------------------------------------------------------- cases and anchors


def cases():
    """(case, goal family, callable(db) -> rows) for every report and variant timed."""
    from crm_cli.domain import alerts, reports

    A = reports.ReportArgs

    def rep(name, args):
        return lambda db: reports.run(db, name, args).rows

    return [
        ("pipeline", "pipeline", rep("pipeline", A())),
        ("pipeline_by_owner", "pipeline", rep("pipeline", A(by="owner"))),
        ("forecast", "forecast", rep("forecast", A())),
        ("winrate", "winrate", rep("winrate", A())),
        ("winrate_by_month", "winrate", rep("winrate", A(by="month"))),
        ("cycle", "cycle", rep("cycle", A())),
        ("funnel", "funnel", rep("funnel", A())),
        ("lost", "lost", rep("lost", A())),
        ("activity", "activity", rep("activity", A())),
        ("activity_by_person", "activity", rep("activity", A(by="person"))),
        ("activity_by_month_all", "activity",
         rep("activity", A(by="month", period="2020-01..2025-12"))),
        ("service", "service", rep("service", A())),
        ("rfm", "rfm", rep("rfm", A())),
        ("rfm_by_customer", "rfm", rep("rfm", A(by="customer"))),
        ("churn", "churn", rep("churn", A())),
        ("team", "team", rep("team", A())),
        ("best", "best", rep("best", A())),
        ("lookalike", "lookalike", rep("lookalike", A())),
        ("lookalike_orgs", "lookalike", rep("lookalike", A(orgs=True))),
        ("conversion", "conversion", rep("conversion", A())),
        ("alerts_collect", "alerts",
         lambda db: alerts.collect(db, db.conn.execute(
             "SELECT id FROM users WHERE name = 'ana'").fetchone()[0])[0]),  # fmt: skip
        ("alerts_run_dry", "alerts", lambda db: list(alerts.run(db, "ana", dry_run=True).alerts)),
    ]  # fmt: skip


def anchors() -> dict[str, list[tuple[str, tuple]]]:
    """Per case: the naive plain-SQL statements (run in order, every row fetched)."""
    days = lambda n: ts(NOW_DT - timedelta(days=n))  # noqa: E731
    open_by_month = ("SELECT substr(expected_close_date, 1, 7) m, currency, count(*),"
                     " sum(amount_minor) FROM deals WHERE status = 'open' GROUP BY 1, 2")  # fmt: skip
    won_by_month = ("SELECT substr(closed_at, 1, 7) m, currency, count(*), sum(amount_minor)"
                    " FROM deals WHERE status = 'won' GROUP BY 1, 2")  # fmt: skip
    rfm = ("SELECT contact_id, count(*), sum(total_minor), max(order_date) FROM orders"
           " WHERE status = 'paid' AND currency = 'EUR' GROUP BY contact_id")  # fmt: skip
    lookalike = ("SELECT c.id, c.name, o.industry, o.size FROM contacts c"
                 " JOIN orgs o ON o.id = c.org_id WHERE o.industry = ?")  # fmt: skip
    stale = ("SELECT d.id, max(a.occurred_at) FROM deals d LEFT JOIN activities a"
             " ON a.deal_id = d.id WHERE d.status = 'open' GROUP BY d.id")  # fmt: skip
    return {
        "pipeline": [("SELECT stage_id, currency, count(*), sum(amount_minor) FROM deals"
                      " WHERE status = 'open' GROUP BY 1, 2", ())],
        "pipeline_by_owner": [("SELECT stage_id, owner_id, currency, count(*), sum(amount_minor)"
                               " FROM deals WHERE status = 'open' GROUP BY 1, 2, 3", ())],
        "forecast": [(open_by_month, ()), (won_by_month, ())],
        "winrate": [("SELECT owner_id, status, count(*), sum(amount_minor) FROM deals"
                     " WHERE status IN ('won', 'lost') GROUP BY 1, 2", ())],
        "winrate_by_month": [("SELECT substr(closed_at, 1, 7), status, count(*) FROM deals"
                              " WHERE status IN ('won', 'lost') GROUP BY 1, 2", ())],
        "cycle": [("SELECT owner_id, julianday(closed_at) - julianday(created_at) FROM deals"
                   " WHERE status = 'won'", ())],
        "funnel": [("SELECT s.name, count(DISTINCT m.deal_id) FROM deal_moves m"
                    " JOIN stages s ON s.id = m.to_stage_id GROUP BY s.id", ())],
        "lost": [("SELECT lower(trim(lost_reason)), stage_id, count(*), sum(amount_minor)"
                  " FROM deals WHERE status = 'lost' GROUP BY 1, 2", ())],
        "activity": [("SELECT strftime('%Y-%W', occurred_at) w, kind, count(*) FROM activities"
                      " WHERE occurred_at >= ? GROUP BY w, kind", (days(84),))],
        "activity_by_person": [("SELECT actor_id, kind, count(*) FROM activities"
                                " WHERE occurred_at >= ? GROUP BY 1, 2", (days(84),))],
        "activity_by_month_all": [("SELECT strftime('%Y-%m', occurred_at) m, kind, count(*)"
                                   " FROM activities GROUP BY m, kind", ())],
        "service": [("SELECT priority, count(*),"
                     " avg(julianday(first_response_at) - julianday(created_at)) * 24,"
                     " avg(julianday(resolved_at) - julianday(created_at)) * 24, avg(satisfaction)"
                     " FROM tickets WHERE created_at >= ? GROUP BY priority", (days(30),))],
        "rfm": [(rfm, ())],
        "rfm_by_customer": [(rfm, ())],
        "churn": [("SELECT contact_id FROM activity_participants GROUP BY contact_id"
                   " HAVING max(occurred_at) < ?", (days(90),))],
        "team": [("SELECT actor_id, count(*) FROM activities WHERE occurred_at >= ?"
                  " GROUP BY actor_id", (days(30),))],
        "best": [("SELECT contact_id, sum(v) FROM ("
                  " SELECT contact_id, total_minor v FROM orders"
                  " WHERE status = 'paid' AND currency = 'EUR' UNION ALL"
                  " SELECT contact_id, amount_minor FROM deals"
                  " WHERE status = 'won' AND currency = 'EUR') GROUP BY contact_id", ())],
        "lookalike": [(lookalike, ("Software",))],
        "lookalike_orgs": [("SELECT o.id, o.name, (SELECT count(*) FROM contacts c"
                            " WHERE c.org_id = o.id) FROM orgs o WHERE o.industry = ?",
                            ("Software",))],
        "conversion": [("SELECT landing_page, count(*),"
                        " count(DISTINCT coalesce(contact_id, visitor_id)) FROM web_visits"
                        " WHERE started_at >= ? GROUP BY landing_page", (days(90),))],
        "alerts_collect": [(stale, ())],
        "alerts_run_dry": [(stale, ())],
    }  # fmt: skip


# ---------------------------------------------------------------- timing


def timed_best(fn, runs: int) -> float:
    """Best seconds of up to `runs` calls after a warm-up; fewer calls for a slow case."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    n = max(3, min(runs, int(CASE_BUDGET_S / max(first, 1e-6))))
    return min(first, best_of(fn, n, warmup=0))


def shape(sql: str) -> str:
    """A statement without its literals: one plan per shape (the activity report runs one
    range count per bucket)."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", " ".join(sql.split()))


def full_scan(detail: str, sql: str, tables: set[str]) -> bool:
    """A plan line reading a whole stored table (by name or alias) without an index."""
    m = re.fullmatch(r"SCAN (\w+)", detail)
    if not m:
        return False
    name = m.group(1)
    if name in tables:
        return True
    for found in re.finditer(rf"\b(\w+)\s+(?:AS\s+)?{name}\b", sql, re.IGNORECASE):
        if found.group(1) in tables:
            return True
    return False


def profile(case: str, fn, db) -> None:
    """cProfile of one call of a case over its goal: where Python spends the time."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    fn(db)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    note(f"  cProfile of one {case} call (by own time):")
    for ln in lines[start:]:
        note(f"    {ln.replace(str(Path.cwd()) + '/', '')[:200]}")


def explain(db, case: str, statements: list[str], total_ms: float) -> None:
    """Each distinct statement the case ran, its time alone (all its runs summed), plan."""
    shapes: dict[str, list[str]] = {}
    for sql in statements:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            shapes.setdefault(shape(sql), []).append(sql)
    tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    note(f"\n-- {case}: {total_ms:.1f} ms; {len(statements)} statement(s) traced")
    sql_ms = 0.0
    for same in shapes.values():
        ms = 0.0
        for sql in same:
            ms += best_of(lambda s=sql: db.conn.execute(s).fetchall(), 2, warmup=0) * 1000
        sql_ms += ms
        times = f" x{len(same)}" if len(same) > 1 else ""
        text = " ".join(same[0].split())
        note(f"  {ms:8.1f} ms{times}  {text[:600]}{' …' if len(text) > 600 else ''}")
        for row in db.conn.execute(f"EXPLAIN QUERY PLAN {same[0]}"):
            detail = row[3]
            mark = "   <-- full scan" if full_scan(detail, same[0], tables) else ""
            note(f"               {detail}{mark}")
    note(f"  SQL alone {sql_ms:.1f} ms of {total_ms:.1f} ms "
         f"({100 * sql_ms / total_ms if total_ms else 0:.0f} %); the rest is Python")  # fmt: skip


def time_cases(db_path: Path, runs: int, only: set[str] | None, profiling: bool) -> list[tuple]:
    from crm_cli.domain.session import open_session

    db = open_session(str(db_path), command="bench", must_exist=True)
    sql_anchors = anchors()
    results = []
    for case, family, fn in cases():
        if only and case not in only:
            continue
        statements: list[str] = []
        db.conn.set_trace_callback(statements.append)
        try:
            rows = fn(db)  # traced once (the warm-up): the plans are of the SQL that ran
        finally:
            db.conn.set_trace_callback(None)
        ms = timed_best(lambda f=fn: f(db), runs) * 1000

        def anchor(stmts=sql_anchors[case]):
            for sql, params in stmts:
                db.conn.execute(sql, params).fetchall()

        anchor_ms = timed_best(anchor, runs) * 1000
        emit(case, ms, "ms")
        emit(f"{case}_anchor", anchor_ms, "ms")
        emit(f"{case}_ratio", ms / anchor_ms, "x")
        emit(f"{case}_rows", len(rows), "rows")
        explain(db, case, statements, ms)
        if profiling and ms > GOALS_MS.get(family, OTHER_GOAL_MS):
            profile(case, fn, db)
        results.append((case, family, ms, anchor_ms))
    db.close()
    return results


def verdicts(results: list[tuple]) -> None:
    over = [r[0] for r in results if r[2] > GOALS_MS.get(r[1], OTHER_GOAL_MS)]
    emit("goals_met", len(results) - len(over), "cases")
    emit("goals_over", len(over), "cases")
    note("")
    for case, family, ms, anchor_ms in results:
        goal = GOALS_MS.get(family, OTHER_GOAL_MS)
        note(f"{'ok  ' if ms <= goal else 'OVER'} {case:<22} {ms:8.1f} ms  (goal <= {goal:.0f} ms;"
             f" anchor {anchor_ms:.1f} ms, {ms / anchor_ms:.2f}x)")  # fmt: skip


# ---------------------------------------------------------------- main


SEED_SIZES = (("contacts", 100_000), ("activities", 1_000_000), ("deals", 50_000),
              ("followups", 25_000), ("orders", 200_000), ("tickets", 20_000),
              ("visits", 100_000))  # fmt: skip


def add_seed_args(ap) -> None:
    """The data sizes this seeding takes (bench/dump.py, db.py, doctor.py seed the same way)."""
    for name, default in SEED_SIZES:
        ap.add_argument(f"--{name}", type=int, default=default)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_seed_args(ap)
    ap.add_argument("--runs", "-n", type=int, default=10, help="timed runs per case (best kept)")
    ap.add_argument("--cli-runs", type=int, default=3, help="timed subprocess runs (best kept)")
    ap.add_argument("--seed", type=int, default=42, help="gen_data.py's seed")
    ap.add_argument("--data", metavar="DIR", help="contacts.csv + activities.csv from gen_data.py")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (and its bench.db)")
    ap.add_argument("--large-db", metavar="FILE", help="a seeded database to reuse (from --keep)")
    ap.add_argument("--quick", action="store_true", help="10,000 contacts, the rest scaled, 3 runs")
    ap.add_argument("--only", metavar="CASE", action="append", help="time only these cases")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile one call of each case over its goal (stderr)")  # fmt: skip
    a = ap.parse_args()
    if a.quick:
        k = 10_000 / a.contacts
        a.contacts = 10_000
        for attr in ("activities", "deals", "followups", "orders", "tickets", "visits"):
            setattr(a, attr, math.ceil(getattr(a, attr) * k))
        a.runs = min(a.runs, 3)

    with TempDir("crm-bench-reports-", keep=a.keep) as tmp:
        t0 = time.perf_counter()
        if a.large_db:
            db = Path(a.large_db).resolve()
            if not db.is_file():
                note(f"FAIL: no database at {db}")
                return 2
            env = crm_env(tmp, db)
        else:
            data = data_dir(tmp, a.data, a.contacts, a.activities, a.seed)
            if a.quick:  # the first activities of the first contacts only
                from dash import subset_activities

                subset = subset_activities(data, tmp / "subset", a.contacts, a.activities)
                (subset / "contacts.csv").symlink_to((data / "contacts.csv").resolve())
                data = subset
            rows = read_rows(data / "contacts.csv", a.contacts)
            db = tmp / "bench.db"
            env = crm_env(tmp, db)
            init_db(env)
            secs, _ = bulk_add(rows, tmp, env)
            note(f"added {len(rows)} contacts in {secs:.1f} s")
            seed_rest(db, data, len(rows), a.deals, a.followups)
            enrich(db, a.orders, a.tickets, a.visits)
            note(f"seeded in {time.perf_counter() - t0:.0f} s")
        (Path(env["CRM_CONFIG_DIR"]) / "config.toml").write_text(f'[time]\nzone = "{ZONE}"\n')
        for table, n in counts(db).items():
            emit(f"db_{table}", n, "rows")
        env["CRM_NOW"] = NOW
        use_env_in_process(env)
        os.environ["CRM_NOW"] = NOW
        results = time_cases(db, a.runs, set(a.only) if a.only else None, a.profile)
        end_to_end(env, [("report_pipeline_json", ["report", "pipeline", "--json"]),
                         ("report_activity_json", ["report", "activity", "--json"])],
                   a.cli_runs)  # fmt: skip
        verdicts(results)
        note(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
