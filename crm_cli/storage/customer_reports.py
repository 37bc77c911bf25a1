"""SQL for the customer reports: RFM, the best customers' profile and the look-alikes.

As in ``storage.reports``, a filter is a compiled ``(where, params)`` pair over the usual
alias (``c`` for contacts, ``o`` for organizations) and a period a second pair over
``o.order_date``. Money is summed in integer minor units, one currency at a time.

What makes these fast on 100,000 contacts: paid orders are read from the covering index
``orders_paid (status, currency, contact_id, order_date, total_minor)`` and the order
channels from ``orders_channel (contact_id, status, source)``, without the table; a
contact is looked up once its orders are summed, not once per order; customers are
counted per tag here (a row per tag, not per customer and tag); and look-alikes are
ranked on whole numbers (see ``lookalike_contacts``).
"""

from __future__ import annotations

import json

from crm_cli.storage.db import Db

Where = tuple[str, list]


def _filtered(where: Where) -> bool:
    return where[0].strip() != "1" or bool(where[1])


# -- RFM -----------------------------------------------------------------------


def order_currencies(db: Db, where: Where, dated: Where) -> list[tuple[str, int]]:
    """Currencies of paid orders in the period (of the filtered contacts), most orders
    first. Without a filter the index alone answers: no contact is read."""
    join = "JOIN contacts c ON c.id = o.contact_id" if _filtered(where) else ""
    return db.conn.execute(
        f"""SELECT o.currency, count(*) FROM orders o {join}
            WHERE o.status = 'paid' AND {dated[0]} AND ({where[0]})
            GROUP BY o.currency ORDER BY count(*) DESC, o.currency""",
        [*dated[1], *where[1]],
    ).fetchall()


def order_totals(
    db: Db, currency: str, where: Where, dated: Where, *, names: bool = False
) -> list[tuple]:
    """Per customer, their paid orders in one currency within the period:
    ``(contact id, orders, total, latest order date)``, with the contact's name last when
    ``names``. The orders are summed from the covering index first; contacts are read
    afterwards (one lookup per customer), or while summing when a filter needs them."""
    params = [currency, *dated[1], *where[1]]
    if _filtered(where):
        return db.conn.execute(
            f"""SELECT o.contact_id, count(*), sum(o.total_minor), max(o.order_date)
                       {", c.name" if names else ""}
                FROM orders o JOIN contacts c ON c.id = o.contact_id
                WHERE o.status = 'paid' AND o.currency = ? AND {dated[0]} AND ({where[0]})
                GROUP BY o.contact_id""",
            params,
        ).fetchall()
    totals = f"""SELECT o.contact_id AS id, count(*) AS n, sum(o.total_minor) AS spent,
                        max(o.order_date) AS last_order
                 FROM orders o WHERE o.status = 'paid' AND o.currency = ? AND {dated[0]}
                 GROUP BY o.contact_id"""
    if not names:
        return db.conn.execute(totals, params).fetchall()
    return db.conn.execute(
        f"""SELECT t.id, t.n, t.spent, t.last_order, c.name
            FROM ({totals}) t JOIN contacts c ON c.id = t.id""",
        params,
    ).fetchall()


# -- best customers and look-alikes ----------------------------------------------------

# How often a customer orders, from the summary columns (``best.cadence`` in SQL): the
# days from the first to the last paid order over the number of gaps (worked out once, in
# a subquery). NULL where the dates are not plain valid YYYY-MM-DD: the caller works those
# out itself.
_GAP = "(julianday(c.last_order_date) - julianday(c.first_order_date)) / (c.order_count - 1)"
_CADENCE = f"""CASE
  WHEN NOT coalesce(c.order_count, 0) THEN 'won deals only'
  WHEN c.order_count = 1 OR coalesce(c.first_order_date, '') = ''
       OR coalesce(c.last_order_date, '') = '' THEN 'one order'
  WHEN c.first_order_date >= '0001' AND date(c.first_order_date) IS c.first_order_date
       AND c.last_order_date >= '0001' AND date(c.last_order_date) IS c.last_order_date
  THEN (SELECT CASE WHEN gap <= 10 THEN 'weekly' WHEN gap <= 45 THEN 'monthly'
                    WHEN gap <= 120 THEN 'quarterly' ELSE 'less than quarterly' END
        FROM (SELECT {_GAP} AS gap))
END"""


def customer_values(
    db: Db, currency: str, where: Where, *, cadence: bool = False,
    span: tuple[str, str, str, str] | None = None,
) -> list[tuple]:  # fmt: skip
    """Contacts with paid orders or won deals in the currency, most valuable first (value
    descending, then id): ``(id, value, source, industry, size[, cadence])`` -- value: both
    summed; industry and size: their organization's; cadence (if asked) the label, from
    the summary columns. The orders are summed from the covering index before any contact
    is read; each customer is then looked up once. Deals are read in one pass (won deals
    are too many for their index to help)."""
    extra = f", {_CADENCE}" if cadence else ""
    # span: (first day, last day, start instant, end instant) -- orders by their date,
    # deals by when they were won; none: all time.
    orders_in = " AND order_date >= ? AND order_date <= ?" if span else ""
    deals_in = " AND closed_at >= ? AND closed_at < ?" if span else ""
    return db.conn.execute(
        f"""WITH v(id, m) AS (
              SELECT contact_id, sum(total_minor) FROM orders
              WHERE status = 'paid' AND currency = ?{orders_in} GROUP BY contact_id
              UNION ALL
              SELECT contact_id, sum(amount_minor) FROM deals NOT INDEXED
              WHERE status = 'won' AND currency = ? AND contact_id IS NOT NULL{deals_in}
              GROUP BY contact_id),
            p(id, value) AS (SELECT id, sum(m) FROM v GROUP BY id)
            SELECT p.id, p.value, c.source, o.industry, o.size{extra}
            FROM p JOIN contacts c ON c.id = p.id LEFT JOIN orgs o ON o.id = c.org_id
            WHERE ({where[0]})
            ORDER BY p.value DESC, p.id""",
        [currency, *(span[:2] if span else ()), currency, *(span[2:] if span else ()), *where[1]],
    ).fetchall()


def order_dates(db: Db, contact_ids: list[int]) -> dict[int, tuple]:
    """Per contact: (paid orders, first and last order date) from the summary columns."""
    return {
        r[0]: r[1:]
        for r in db.conn.execute(
            "SELECT id, order_count, first_order_date, last_order_date FROM contacts"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(contact_ids),),
        )
    }


def _people(best: list[int], others: list[int]) -> tuple[str, list]:
    """The customers as a table ``j(id, best)``: the best flagged 1, the others 0 (each
    list sorted, so their contacts are read in order)."""
    return (
        "SELECT value AS id, 1 AS best FROM json_each(?) UNION ALL"
        " SELECT value, 0 FROM json_each(?)",
        [json.dumps(sorted(best)), json.dumps(sorted(others))],
    )


def tag_counts(db: Db, best: list[int], others: list[int]) -> list[tuple[str, int, int]]:
    """Per tag (as written): how many customers have it (the ``best`` and the ``others``),
    and how many of the best."""
    people, params = _people(best, others)
    return db.conn.execute(
        f"""SELECT t.tag, count(*), sum(j.best) FROM ({people}) j
            CROSS JOIN contact_tags t ON t.contact_id = j.id GROUP BY t.tag""",
        params,
    ).fetchall()


def tags_count_once(db: Db, best: list[int], others: list[int], tags: list[str]) -> tuple[int, int]:
    """How many customers (and how many of the best) have any of these tags: a customer
    with two of them counts once."""
    people, params = _people(best, others)
    return db.conn.execute(
        f"""SELECT count(DISTINCT j.id), count(DISTINCT CASE WHEN j.best THEN j.id END)
            FROM ({people}) j CROSS JOIN contact_tags t ON t.contact_id = j.id
            WHERE t.tag IN (SELECT value FROM json_each(?))""",
        [*params, json.dumps(tags)],
    ).fetchone()


_CHANNELS = """SELECT contact_id, source, n FROM (
      SELECT contact_id, source, count(*) AS n FROM orders INDEXED BY orders_channel
      WHERE +status = 'paid' AND source IS NOT NULL GROUP BY contact_id, status, source)
    ORDER BY contact_id, n, source DESC"""


def order_channels(db: Db) -> list[tuple[int, str, int]]:
    """Per contact and order source (the channel they buy through): their paid orders, by
    contact, then fewest first, then source descending -- so the last row of a contact
    names the source they use most (the first in source order on a tie). One pass over
    the index orders_channel (contact_id, status, source) (``+status``: not a range of it
    to look up); only the rows are sorted."""
    return db.conn.execute(_CHANNELS).fetchall()


def value_currencies(db: Db) -> list[tuple[str, int]]:
    """Currencies of paid orders and won deals with a contact, most records first."""
    return db.conn.execute(
        """SELECT currency, sum(n) FROM (
             SELECT currency, count(*) AS n FROM orders WHERE status = 'paid' GROUP BY currency
             UNION ALL
             SELECT currency, count(*) FROM deals NOT INDEXED
             WHERE status = 'won' AND contact_id IS NOT NULL AND currency IS NOT NULL
             GROUP BY currency)
           GROUP BY currency ORDER BY sum(n) DESC, currency"""
    ).fetchall()


# Look-alike scoring: a profile term is (attribute, value, weight); a contact's score is the
# sum of the weights of the terms it matches, added in the terms' order (as floats: the
# order decides the last bits, and so the order of near ties).
_TERM_SQL = {
    "industry": "(CASE WHEN o.industry = ? COLLATE NOCASE THEN ? ELSE 0 END)",
    "size": "(CASE WHEN o.size = ? COLLATE NOCASE THEN ? ELSE 0 END)",
    "source": "(CASE WHEN c.source = ? COLLATE NOCASE THEN ? ELSE 0 END)",
    "tag": "(CASE WHEN EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id"
    " AND t.tag = ? COLLATE NOCASE) THEN ? ELSE 0 END)",
}
_ORG_TERM_SQL = {a: _TERM_SQL[a] for a in ("industry", "size")}
_COLUMN = {"industry": "o.industry", "size": "o.size", "source": "c.source"}
_SLACK = 100  # rows fetched beyond twice the limit, for ties on the integer score


def _score(terms: list[tuple[str, str, float]], sql: dict[str, str]) -> tuple[str, list]:
    return " + ".join(sql[a] for a, _, _ in terms), [p for _, v, w in terms for p in (v, w)]


def _units(terms: list[tuple[str, str, float]]) -> list[int] | None:
    """The weights in ten-thousandths (they are rounded to 4 decimals), or None if one
    is not, or is negative."""
    units = [round(w * 10000) for _, _, w in terms]
    if any(u < 0 or abs(w * 10000 - u) > 1e-6 for u, (_, _, w) in zip(units, terms)):
        return None
    return units


def lookalike_contacts(
    db: Db, terms: list[tuple[str, str, float]], exclude: list[int], where: Where, limit: int
) -> list[dict]:
    """Contacts outside ``exclude`` ranked by the summed weights of the profile terms
    they match (attribute, value, weight); only attributes in _TERM_SQL are scored.

    Ranking every contact by that float sum costs a string comparison and a tag lookup per
    term and contact. The weights are ln(lift) to 4 decimals, so their sum in whole
    ten-thousandths ("units") ranks the contacts the same way -- two float sums differ by
    at least 0.0001 where those integers differ, and by rounding noise at most where they
    are equal -- and it adds up in any order: one comparison per attribute, the tags
    summed apart. The top rows by units, with room for their ties, then get their exact
    score (the float sum in term order, as ever) for the final order.

    Most of the time the top is made of contacts with a profile tag: when enough of them
    score more than any contact without one could (the best industry, size and source
    together), only they are ranked, found through the tag index."""
    used = [t for t in terms if t[0] in _TERM_SQL]
    if not used or limit == 0:
        return []
    score, score_params = _score(used, _TERM_SQL)
    units = _units(used)
    if units is None:  # weights of another kind: the float sum for every contact
        return _lookalike_contacts_exact(db, score, score_params, exclude, where, limit)
    plain, plain_params = _plain_units(used, units)
    tags = [(v, u) for (a, v, _), u in zip(used, units, strict=True) if a == "tag" and u]

    def fetch(size: int, least: int | None = None, *, tagged: bool = False,
              once: bool = False) -> list[dict]:  # fmt: skip
        """Contacts by units (descending, then id): ``size`` of them (-1: all), or all
        with at least ``least``; ``tagged``: only those with a profile tag; ``once``: a
        term matched by two spellings of a tag counts once."""
        tag_sql, tag_params = _tag_units(tags, tagged=tagged, once=once)
        if tagged:
            ranked = f"""SELECT c.id AS cid, {plain} + a.units AS units
                         FROM ({tag_sql}) a CROSS JOIN contacts c ON c.id = a.id
                         LEFT JOIN orgs o ON o.id = c.org_id"""
        else:
            ranked = f"""SELECT c.id AS cid, {plain} + {tag_sql} AS units
                         FROM contacts c NOT INDEXED LEFT JOIN orgs o ON o.id = c.org_id"""
        params = [*plain_params, *tag_params]  # in the order they appear either way
        ranked += f" WHERE c.id NOT IN (SELECT value FROM json_each(?)) AND ({where[0]})"
        if least is not None:
            ranked = f"SELECT * FROM ({ranked} LIMIT -1) WHERE units >= {int(least)}"
        cur = db.conn.execute(
            f"""WITH top(id, units) AS ({ranked} ORDER BY units DESC, cid LIMIT ?)
                SELECT c.id, c.name, c.source, o.name AS org, o.industry, o.size,
                       {score} AS score, top.units
                FROM top JOIN contacts c ON c.id = top.id LEFT JOIN orgs o ON o.id = c.org_id
                ORDER BY top.units DESC, top.id""",
            [*params, json.dumps(exclude), *where[1], size, *score_params],
        )
        cols = [d[0] for d in cur.description]
        found = [dict(zip(cols, r)) for r in cur.fetchall() if r[-1] > 0]
        if not once and any(r["units"] != round(r["score"] * 10000) for r in found):
            # Some contact has a tag in two spellings (crm stores tags lower-case, so only
            # data written around it can): counted twice, its units are too high.
            return fetch(size, least, tagged=tagged, once=True)
        return found

    size = -1 if limit < 0 else 2 * limit + _SLACK
    if tags and limit > 0:
        rows = fetch(size, tagged=True)
        # Complete above: the last units read (if there may be more), and what a contact
        # without a profile tag can reach at most.
        above = max(_most_plain(used, units), rows[-1]["units"] if len(rows) == size else 0)
        whole = [r for r in rows if r["units"] > above]
        if len(whole) >= limit:
            return _by_score(whole, limit)
    rows = fetch(size)
    if 0 <= size == len(rows):  # the last tie may go on past what was read
        whole = [r for r in rows if r["units"] > rows[-1]["units"]]
        rows = whole if len(whole) >= limit else fetch(-1, rows[limit - 1]["units"])
    return _by_score(rows, limit)


def _by_score(rows: list[dict], limit: int) -> list[dict]:
    rows.sort(key=lambda r: (-r["score"], r["id"]))
    for r in rows:
        del r["units"]
    return rows if limit < 0 else rows[:limit]


def _plain_units(terms: list[tuple[str, str, float]], units: list[int]) -> tuple[str, list]:
    """A contact's units from its organization's industry and size and its source: per
    attribute, the units of the term its value equals, ignoring case as the score does (a
    value equals one term at most: the terms are case-folded and distinct)."""
    parts, params = [], []
    for attr, column in _COLUMN.items():
        found = [(v, u) for (a, v, _), u in zip(terms, units, strict=True) if a == attr and u]
        if found:
            parts.append(f"CASE {column} COLLATE NOCASE "
                         + " ".join("WHEN ? THEN ?" for _ in found) + " ELSE 0 END")  # fmt: skip
            params += [p for vu in found for p in vu]
    return " + ".join(parts) or "0", params


def _most_plain(terms: list[tuple[str, str, float]], units: list[int]) -> int:
    """The most units a contact can have without a profile tag."""
    return sum(max((u for (a, _, _), u in zip(terms, units, strict=True) if a == attr),
                   default=0) for attr in _COLUMN)  # fmt: skip


def _tag_units(tags: list[tuple[str, int]], *, tagged: bool, once: bool) -> tuple[str, list]:
    """The units of a contact's tags: a scalar subquery on ``c``, or (``tagged``) a table
    ``(id, units)`` of the contacts with a profile tag, through the tag index."""
    if not tags:
        return "0", []
    values = ", ".join("?" for _ in tags)
    if not once:
        sql = "CASE t.tag COLLATE NOCASE " + " ".join("WHEN ? THEN ?" for _ in tags) + " END"
        params = [p for vu in tags for p in vu]
        if tagged:
            return (f"""SELECT t.contact_id AS id, sum({sql}) AS units FROM contact_tags t
                        WHERE t.tag COLLATE NOCASE IN ({values}) GROUP BY t.contact_id""",
                    [*params, *(v for v, _ in tags)])  # fmt: skip
        return (f"coalesce((SELECT sum({sql}) FROM contact_tags t"
                " WHERE t.contact_id = c.id), 0)", params)  # fmt: skip
    term = "CASE t.tag COLLATE NOCASE " + " ".join(
        f"WHEN ? THEN {i}" for i in range(len(tags))) + " END"  # fmt: skip
    unit = "CASE i " + " ".join(f"WHEN {i} THEN {u}" for i, (_, u) in enumerate(tags)) + " END"
    params = [v for v, _ in tags]
    if tagged:
        return (f"""SELECT id, sum({unit}) AS units FROM (
                      SELECT DISTINCT t.contact_id AS id, {term} AS i FROM contact_tags t
                      WHERE t.tag COLLATE NOCASE IN ({values})) GROUP BY id""",
                [*params, *params])  # fmt: skip
    return (f"""coalesce((SELECT sum({unit}) FROM (SELECT DISTINCT {term} AS i
                FROM contact_tags t WHERE t.contact_id = c.id)), 0)""", params)  # fmt: skip


def _lookalike_contacts_exact(
    db: Db, score: str, score_params: list, exclude: list[int], where: Where, limit: int
) -> list[dict]:
    cur = db.conn.execute(
        f"""SELECT * FROM (
              SELECT c.id, c.name, c.source, o.name AS org, o.industry, o.size, {score} AS score
              FROM contacts c LEFT JOIN orgs o ON o.id = c.org_id
              WHERE c.id NOT IN (SELECT value FROM json_each(?)) AND ({where[0]}))
            WHERE score > 0 ORDER BY score DESC, id LIMIT ?""",
        [*score_params, json.dumps(exclude), *where[1], limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def lookalike_orgs(
    db: Db, terms: list[tuple[str, str, float]], exclude: list[int], where: Where, limit: int
) -> list[dict]:
    """Organizations without a best customer, ranked by the industry and size terms;
    their people are counted for the organizations listed only. The score is worked out
    once per organization: those scoring nothing sort last and are dropped here."""
    used = [t for t in terms if t[0] in _ORG_TERM_SQL]
    if not used:
        return []
    score, params = _score(used, _ORG_TERM_SQL)
    cur = db.conn.execute(
        f"""WITH top AS (
              SELECT o.id, o.name, o.industry, o.size, {score} AS score FROM orgs o
              WHERE o.id NOT IN (SELECT value FROM json_each(?)) AND ({where[0]})
              ORDER BY score DESC, o.id LIMIT ?)
            SELECT top.*, (SELECT count(*) FROM contacts xc WHERE xc.org_id = top.id) AS people
            FROM top WHERE top.score > 0 ORDER BY top.score DESC, top.id""",
        [*params, json.dumps(exclude), *where[1], limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def orgs_of(db: Db, contact_ids: list[int]) -> list[int]:
    return [
        r[0]
        for r in db.conn.execute(
            "SELECT DISTINCT org_id FROM contacts WHERE id IN (SELECT value FROM json_each(?))"
            " AND org_id IS NOT NULL",
            (json.dumps(contact_ids),),
        )
    ]


def tags_of(db: Db, contact_ids: list[int]) -> list[tuple[int, str]]:
    return db.conn.execute(
        "SELECT contact_id, tag FROM contact_tags"
        " WHERE contact_id IN (SELECT value FROM json_each(?))",
        (json.dumps(contact_ids),),
    ).fetchall()
