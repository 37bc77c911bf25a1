"""A realistic, seeded sample: always the same people and companies for the same version."""

from __future__ import annotations

import random
import unicodedata

from crm_cli.domain import contacts, orgs, settings
from crm_cli.storage import contacts as contact_store
from crm_cli.storage import orgs as org_store
from crm_cli.storage.db import Db, transaction

SEED = 20260301

ES_FIRST = ["Ana", "Lucía", "María José", "Carmen", "Pablo", "Javier", "Sergio", "Marta", "Irene", "Álvaro",
            "Nuria", "Íñigo", "Begoña", "Raúl", "Elena", "Jordi", "Montserrat", "Andrés", "Rocío", "Víctor"]  # fmt: skip
ES_LAST = ["García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz",
           "Muñoz", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez", "Gil", "Vázquez", "Ibáñez"]  # fmt: skip
EN_FIRST = ["Oliver", "Emma", "James", "Sophie", "Harry", "Grace", "Jack", "Chloe", "George", "Amelia",
            "Thomas", "Isla", "Daniel", "Hannah", "Liam", "Olivia", "Noah", "Ruby"]  # fmt: skip
EN_LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans",
           "O'Neill", "Walker", "Wright", "Thompson", "Hughes", "Clarke", "Patel"]  # fmt: skip

ORGS = [
    # name, domain, industry, size, city, country, phone, lang
    ("Acme SL", "acme.es", "manufacturing", "51-200", "Valencia", "ES", "+34 963 123 456", "es"),
    ("Olivares Logística SA", "olivares-logistica.es", "logistics", "201-500", "Zaragoza", "ES", "+34 976 555 010", "es"),
    ("Bodegas Río Seco", "rioseco.wine", "food & beverage", "11-50", "Logroño", "ES", "+34 941 220 330", "es"),
    ("Clínica Dental Sonrisa", "sonrisadental.es", "healthcare", "1-10", "Sevilla", "ES", "+34 954 700 800", "es"),
    ("Northwind Traders Ltd", "northwind.co.uk", "wholesale", "51-200", "Leeds", "GB", "+44 113 496 0000", "en"),
    ("Brightside Software", "brightside.io", "software", "11-50", "Bristol", "GB", "+44 117 496 0123", "en"),
    ("Harbour & Finch LLP", "harbourfinch.com", "legal", "11-50", "London", "GB", "+44 20 7946 0991", "en"),
    ("Greenfield Schools Trust", "greenfield.org.uk", "education", "501-1000", "Manchester", "GB", "+44 161 496 0456", "en"),
]  # fmt: skip

TITLES = ["CEO", "CTO", "Head of Sales", "Purchasing Manager", "Operations Director", "Office Manager",
          "Marketing Lead", "Finance Director", "IT Manager", "Account Executive"]  # fmt: skip
ES_CITIES = ["Madrid", "Barcelona", "Valencia", "Bilbao", "Málaga", "Granada", "Murcia", "A Coruña"]
EN_CITIES = ["London", "Birmingham", "Glasgow", "Cardiff", "Brighton", "York", "Belfast", "Oxford"]
SOURCES = ["website", "referral", "fair2024", "linkedin", "cold-call", "newsletter"]


def _slug(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    return "".join(c for c in s if c.isalnum() or c == " ").replace(" ", "")


def _person(rng: random.Random, lang: str) -> tuple[str, str]:
    if lang == "es":
        return rng.choice(ES_FIRST), f"{rng.choice(ES_LAST)} {rng.choice(ES_LAST)}"
    return rng.choice(EN_FIRST), rng.choice(EN_LAST)


def _mobile(rng: random.Random, lang: str) -> str:
    if lang == "es":
        return f"+34 6{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    return f"+44 7700 900{rng.randint(0, 999):03d}"


def records(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """The sample's organizations and contacts as plain records (deterministic)."""
    rng = random.Random(seed)
    org_recs, people = [], []
    used: set[str] = set()
    for name, domain, industry, size, city, country, phone, lang in ORGS:
        org_recs.append({"name": name, "domain": domain, "industry": industry, "size": size,
                         "city": city, "country": country, "phones": [f"office={phone}"],
                         "tags": ["key-account"] if size in ("201-500", "501-1000") else []})  # fmt: skip
        for _ in range(rng.randint(3, 6)):
            first, last = _person(rng, lang)
            local = f"{_slug(first)}.{_slug(last.split()[0])}"
            while local in used:
                local += str(rng.randint(1, 9))
            used.add(local)
            people.append({
                "first_name": first, "last_name": last, "name": f"{first} {last}",
                "emails": [f"work={local}@{domain}"], "phones": [f"mobile={_mobile(rng, lang)}"],
                "title": rng.choice(TITLES), "org": name, "city": city, "country": country,
                "stage": rng.choice(["lead", "prospect", "customer", "customer"]),
                "source": rng.choice(SOURCES),
                "tags": rng.sample(["vip", "newsletter", "decision-maker", "technical", "events"], rng.randint(0, 2)),
                "consent": rng.choice(["granted", "granted", "unknown"]),
            })  # fmt: skip
    for i in range(30):  # B2C consumers: no organization
        lang = "es" if i % 3 else "en"
        first, last = _person(rng, lang)
        local = f"{_slug(first)}{_slug(last.split()[0])}{rng.randint(10, 99)}"
        provider = rng.choice(
            ["gmail.com", "outlook.com", "yahoo.es" if lang == "es" else "btinternet.com"]
        )
        year, month, day = rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28)
        people.append({
            "first_name": first, "last_name": last, "name": f"{first} {last}",
            "emails": [f"home={local}@{provider}"], "phones": [f"mobile={_mobile(rng, lang)}"],
            "city": rng.choice(ES_CITIES if lang == "es" else EN_CITIES),
            "country": "ES" if lang == "es" else "GB",
            "stage": rng.choice(["lead", "customer", "customer", "churned"]),
            "source": rng.choice(["website", "newsletter", "store"]),
            "tags": rng.sample(["b2c", "newsletter", "loyalty", "vip"], rng.randint(1, 2)),
            "consent": rng.choice(["granted", "opted_out", "unknown"]),
            "birthday": f"{year:04d}-{month:02d}-{day:02d}",
        })  # fmt: skip
    return org_recs, people


DEALS_ES = ["Renovación licencias", "Ampliación 50 puestos", "Contrato de mantenimiento",
            "Migración a la nube", "Formación del equipo", "Proyecto piloto"]  # fmt: skip
DEALS_EN = ["Licence renewal", "50-seat expansion", "Support contract", "Cloud migration",
            "Team training", "Pilot project"]  # fmt: skip
LOST_REASONS = ["price", "timing", "went with a competitor", "no budget"]
OUTCOMES = ["left voicemail", "interested", "asked for a quote", "call back next week", None]
PRODUCTS = [("MUG-01", "Taza cerámica", "12.50"), ("TEE-02", "Camiseta orgánica", "19.99"),
            ("BAG-03", "Bolsa de tela", "8.95"), ("CAP-04", "Gorra bordada", "15.00"),
            ("BOOK-05", "Cuaderno A5", "6.40")]  # fmt: skip
TICKETS = [("No puedo acceder a mi cuenta", "high", "question"),
           ("Factura duplicada", "normal", "complaint"),
           ("Export to CSV is slow", "low", "suggestion"),
           ("Pedido sin entregar", "urgent", "complaint")]  # fmt: skip


def _operational(db: Db, tx, rng: random.Random, people: list[tuple[int, dict]]) -> dict:
    """Deals, activities, tickets and orders over the sample's people, at times before now."""
    from datetime import timedelta

    from crm_cli.domain import activities, dates, followups, orders, tickets
    from crm_cli.storage import deals as deal_store

    now = dates.now()
    stages = deal_store.stages(db, deal_store.default_pipeline_id(db))

    def ago(days: float, hour: int = 10) -> str:
        return dates.to_db((now - timedelta(days=days)).replace(hour=hour, minute=0, second=0))

    by_org: dict[str, list[int]] = {}
    for cid, p in people:
        if p.get("org"):
            by_org.setdefault(p["org"], []).append(cid)
    n_deals = n_acts = 0
    for org_name, lang in ((o[0], o[7]) for o in ORGS):
        members = by_org.get(org_name, [])
        oid = org_store.ids_by_name(db, org_name)[0]
        for _ in range(rng.randint(1, 3)):
            created = rng.randint(20, 150)
            stage = rng.choice(stages)
            status = rng.choices(["open", "won", "lost"], [60, 25, 15])[0]
            contact = rng.choice(members) if members else None
            at = ago(created)
            moved = ago(created - rng.randint(1, 15))
            closed = ago(rng.randint(1, 10)) if status != "open" else None
            did = tx.insert("deals", {
                "title": rng.choice(DEALS_ES if lang == "es" else DEALS_EN), "pipeline_id": stage["pipeline_id"],
                "stage_id": stage["id"], "status": status, "org_id": oid, "contact_id": contact,
                "lost_reason": rng.choice(LOST_REASONS) if status == "lost" else None,
                "amount_minor": rng.randint(20, 600) * 10000, "currency": "EUR" if lang == "es" else "GBP",
                "expected_close_date": (now + timedelta(days=rng.randint(-5, 90))).date().isoformat(),
                "owner_id": tx.actor_id, "source": rng.choice(SOURCES), "custom": "{}",
                "stage_entered_at": moved, "closed_at": closed, "created_at": at, "updated_at": closed or moved,
            })  # fmt: skip
            first = stages[0]["id"]
            tx.insert("deal_moves", {"deal_id": did, "from_stage_id": None, "to_stage_id": first, "from_status": None,
                                     "to_status": "open", "moved_at": at, "actor_id": tx.actor_id})  # fmt: skip
            if stage["id"] != first:
                tx.insert("deal_moves", {"deal_id": did, "from_stage_id": first, "to_stage_id": stage["id"],
                                         "from_status": "open", "to_status": "open", "moved_at": moved,
                                         "actor_id": tx.actor_id})  # fmt: skip
            if closed:
                tx.insert("deal_moves", {"deal_id": did, "from_stage_id": stage["id"], "to_stage_id": stage["id"],
                                         "from_status": "open", "to_status": status, "moved_at": closed,
                                         "actor_id": tx.actor_id})  # fmt: skip
            n_deals += 1
            for _ in range(rng.randint(1, 4)):
                kind = rng.choice(["call", "call", "email", "email", "meeting", "note"])
                who = rng.sample(members, min(len(members), rng.randint(2, 3))) if kind == "meeting" else (
                    [contact] if contact else [])  # fmt: skip
                activities.write(
                    db, tx, kind, contact_ids=who, org_id=oid, deal_id=did,
                    direction=rng.choice(["in", "out"]) if kind in ("call", "email") else None,
                    subject=rng.choice(["Seguimiento", "Propuesta", "Demo", "Presupuesto"]) if lang == "es"
                    else rng.choice(["Follow-up", "Proposal", "Demo", "Quote"]),
                    outcome=rng.choice(OUTCOMES) if kind == "call" else None,
                    duration_seconds=rng.choice([300, 900, 1800, 3600]) if kind in ("call", "meeting") else None,
                    occurred_at=ago(rng.uniform(0.5, created), rng.randint(9, 18)),
                )  # fmt: skip
                n_acts += 1
    consumers = [(cid, p) for cid, p in people if not p.get("org")]
    n_orders = 0
    for cid, p in consumers:
        if p["stage"] == "lead":
            continue
        for _ in range(rng.randint(1, 4)):
            n_orders += 1
            lines = [f"{sku}:{rng.randint(1, 3)}:{price}:{desc}"
                     for sku, desc, price in rng.sample(PRODUCTS, rng.randint(1, 3))]  # fmt: skip
            orders.add(db, contact=str(cid), number=f"W-{1000 + n_orders}", lines=lines,
                       date=(now - timedelta(days=rng.randint(1, 400))).date().isoformat(),
                       currency="EUR" if p["country"] == "ES" else "GBP",
                       status=rng.choices(["paid", "refunded"], [9, 1])[0], source="shop")  # fmt: skip
    n_tickets = 0
    for subject, priority, kind in TICKETS:
        cid, _p = rng.choice(consumers)
        t = tickets.open_ticket(db, subject, contact=str(cid), priority=priority, type=kind,
                                channel="email", body=subject)  # fmt: skip
        n_tickets += 1
        if priority != "low":
            tickets.comment(db, t.id, "Gracias, lo estamos revisando." if priority != "urgent"
                            else "We are on it.")  # fmt: skip
    from crm_cli.domain import deals

    deal_id = deals.list_deals(db, limit=1)[0].id  # the first open deal
    b2b = [cid for cid, p in people if p.get("org")]
    today = now.astimezone(dates.local_tz()).date()
    first_of_next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1).isoformat()
    plan = [
        ("Llamar para la renovación", "yesterday 10:00", {"contact": str(b2b[0])}),
        ("Enviar propuesta revisada", "today 16:00", {"deal": str(deal_id)}),
        ("Preparar la demo", "+3d", {"contact": str(b2b[3])}),
        ("Revisar el pipeline", "next monday 9am", {"every": "weekly"}),
        ("Informe mensual", f"{first_of_next_month} 10:00", {"every": "monthly on the 1st"}),
    ]
    for text, due, links in plan:
        followups.add(db, text, due, **links)
    vips = [cid for cid, p in people if p.get("org") and "vip" in p.get("tags", ())]
    followups.set_cadence(db, vips, 30)
    return {"deals": n_deals, "activities": n_acts, "orders": n_orders, "tickets": n_tickets,
            "follow-ups": len(plan)}  # fmt: skip


def load_demo(db: Db) -> dict | None:
    """Fill an empty database with the sample; on a non-empty one change nothing (None)."""
    org_recs, people = records()
    # The sample speaks of the default stages; map them onto the team's own by position.
    st = settings.stages(db)
    default = ["lead", "prospect", "customer", "churned"]
    mapping = {name: st[min(i, len(st) - 1)] if i < 3 else st[-1] for i, name in enumerate(default)}
    people = [{**p, "stage": mapping[p["stage"]]} for p in people]
    with transaction(db, "demo") as tx:
        # Checked under the write lock, so two demos at once cannot both fill it.
        if contact_store.count(db) or org_store.count(db):
            return None
        for rec in org_recs:
            rec = dict(rec)
            orgs.add(db, rec.pop("name"), **rec)
        ids = contacts.add_many(db, people, label="demo")
        rest = _operational(db, tx, random.Random(SEED + 1), list(zip(ids, people)))
    return {"orgs": len(org_recs), "contacts": len(ids), **rest}
