"""Map the columns of other tools' CSV files onto our record fields.

A mapping is ``{column: target}``. Targets are a field of the record kind
(``name``, ``org``, ``close``…), a list field with an optional label
(``emails``, ``emails:work``, ``phones:fax``, ``tags``), a custom field
(``fields.NAME``), a social profile on contacts (``social.NAME``) or ``-`` to
ignore the column. ``detect`` recognises the exports of other tools (PRESETS)
and common column names; columns it does not know are left out of the mapping,
and ``build`` stores them as custom fields unless told to ignore them.

Missing values: cells that are empty or hold ``NA``, ``N/A``, ``NULL``, ``NONE``
or ``-`` are missing in structured fields (emails, phones, dates, codes, amounts,
references…) but kept as written in free text (names, titles, custom fields),
where "Na" may be a surname and "-" a deliberate note. Values are stripped and
otherwise kept as text: ``01`` stays ``01``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from crm_cli.errors import InvalidInput
from crm_cli.io.csv_in import unguard

_CONTACT = (
    "name first_name last_name title org org_ref emails phones tags source owner owner_ref "
    "stage consent birthday street city region postal_code country created_at external_id"
)
_ORG = "name domain industry size phones street city region postal_code country tags owner owner_ref external_id created_at"
_DEAL = "title org org_ref contact amount currency stage status close owner owner_ref source lost_reason external_id created_at"
_ORDER = (
    "number contact date status currency total sku description quantity unit_price country "
    "external_id coupon"
)
_USER = (
    "name first_name last_name title emails phones street city region postal_code country "
    "birthday manager_ref external_id"
)
_DELIVERY = "contact contact_id emails channel at status count external_id"
_CAMPAIGN_STATS = "date cost currency impressions clicks conversions label"
_VISIT = (
    "emails visitor_id at landing_page referrer utm_source utm_medium utm_campaign pages "
    "external_id"
)
FIELDS: dict[str, frozenset[str]] = {
    "contacts": frozenset(_CONTACT.split()),
    "orgs": frozenset(_ORG.split()),
    "deals": frozenset(_DEAL.split()),
    "orders": frozenset(_ORDER.split()),
    "order_lines": frozenset(_ORDER.split()),
    "users": frozenset(_USER.split()),
    "visits": frozenset(_VISIT.split()),
    "campaign-stats": frozenset(_CAMPAIGN_STATS.split()),
    "deliveries": frozenset(_DELIVERY.split()),
}
LIST_FIELDS = frozenset({"emails", "phones", "tags"})
IGNORE = "-"
NULLS = frozenset({"", "na", "n/a", "null", "none", "-"})
# Free text keeps NA/NULL/- as written; everything else treats them as missing.
FREE_TEXT = frozenset({"name", "first_name", "last_name", "title", "description", "lost_reason"})
# Pseudo-targets a preset may use; build() folds them into real fields.
_PSEUDO = frozenset({"is_won", "is_closed"})


def norm(column: str) -> str:
    """Key for matching a column name: case-, space- and punctuation-insensitive."""
    return re.sub(r"[\W_]+", "", column.casefold())


def slug(column: str) -> str:
    """Custom-field name for a column: 'Program Name' -> 'program_name'."""
    s = re.sub(r"[^a-z0-9]+", "_", column.casefold()).strip("_")
    return s or "column"


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str
    title: str  # what to call it in messages
    signatures: tuple[frozenset[str], ...]  # any one of these sets of norm() keys identifies it
    columns: dict[str, str] = field(default_factory=dict)  # norm(column) -> target


def _p(name, kind, title, signatures, columns):
    sigs = tuple(frozenset(norm(c) for c in s.split("|")) for s in signatures)
    return Preset(name, kind, title, sigs, {norm(k): v for k, v in columns.items()})


_SF_ADDRESS = {
    "BillingStreet": "street",
    "BillingCity": "city",
    "BillingState": "region",
    "BillingPostalCode": "postal_code",
    "BillingCountry": "country",
}
_SF_MAILING = {
    "MailingStreet": "street",
    "MailingCity": "city",
    "MailingState": "region",
    "MailingPostalCode": "postal_code",
    "MailingCountry": "country",
}
_ADDRESS = {"Address": "street", "City": "city", "State": "region", "Country": "country"}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _p(
            "salesforce-accounts",
            "orgs",
            "Salesforce Accounts",
            ["name|billingstreet|billingcity", "name|numberofemployees|industry"],
            {
                "Id": "external_id",
                "Name": "name",
                "Phone": "phones",
                "Fax": "phones:fax",
                "Website": "domain",
                "Industry": "industry",
                "NumberOfEmployees": "size",
                "OwnerId": "owner_ref",
                "CreatedDate": "created_at",
                **_SF_ADDRESS,
            },
        ),
        _p(
            "salesforce-contacts",
            "contacts",
            "Salesforce Contacts",
            ["firstname|lastname|accountid"],
            {
                "Id": "external_id",
                "AccountId": "org_ref",
                "Email": "emails",
                "Phone": "phones",
                "MobilePhone": "phones:mobile",
                "HomePhone": "phones:home",
                "Fax": "phones:fax",
                "LeadSource": "source",
                "Birthdate": "birthday",
                "OwnerId": "owner_ref",
                "CreatedDate": "created_at",
                **_SF_MAILING,
            },
        ),
        _p(
            "salesforce-opportunities",
            "deals",
            "Salesforce Opportunities",
            ["stagename|closedate"],
            {
                "Id": "external_id",
                "Name": "title",
                "AccountId": "org_ref",
                "Amount": "amount",
                "CurrencyIsoCode": "currency",
                "StageName": "stage",
                "CloseDate": "close",
                "IsWon": "is_won",
                "IsClosed": "is_closed",
                "LeadSource": "source",
                "OwnerId": "owner_ref",
                "CreatedDate": "created_at",
                "Loss_Reason__c": "lost_reason",
            },
        ),
        _p(
            "atomic-crm",
            "contacts",
            "Atomic CRM contacts",
            ["first_name|last_name|has_newsletter|first_seen"],
            {
                "id": "external_id",
                "first_seen": "created_at",
                "has_newsletter": "consent",
                "status": "stage",
                "company_id": "org_ref",
                "company_name": "org",
                "company": "org",
                "sales_id": "owner_ref",
                "sales": "owner",
                "linkedin_url": "social.linkedin",
                "nb_tasks": IGNORE,  # a count Atomic CRM derives
                "email_work": "emails:work",
                "email_home": "emails:home",
                "email_other": "emails:other",
                "phone_work": "phones:work",
                "phone_home": "phones:home",
                "phone_other": "phones:other",
            },
        ),
        _p(
            "google-contacts",
            "contacts",
            "Google Contacts",
            [
                "given name|family name|group membership",
                "first name|last name|labels|e-mail 1 - value",
            ],
            {
                "Given Name": "first_name",
                "Family Name": "last_name",
                "Group Membership": "tags",
                "Labels": "tags",
                "Organization 1 - Name": "org",
                "Organization Name": "org",
                "Organization 1 - Title": "title",
                "Organization Title": "title",
                "Address 1 - Street": "street",
                "Address 1 - City": "city",
                "Address 1 - Region": "region",
                "Address 1 - Postal Code": "postal_code",
                "Address 1 - Country": "country",
                "Notes": "fields.notes",
            },
        ),
        _p(
            "outlook",
            "contacts",
            "Outlook contacts",
            ["first name|last name|e-mail address|business phone"],
            {
                "Title": "fields.prefix",  # Outlook's Title is Mr./Ms.; Job Title is the role
                "Job Title": "title",
                "Company": "org",
                "E-mail Address": "emails",
                "E-mail 2 Address": "emails",
                "E-mail 3 Address": "emails",
                "Business Phone": "phones:work",
                "Business Phone 2": "phones:work",
                "Business Fax": "phones:fax",
                "Home Phone": "phones:home",
                "Home Phone 2": "phones:home",
                "Mobile Phone": "phones:mobile",
                "Other Phone": "phones:other",
                "Primary Phone": "phones",
                "Categories": "tags",
                "Business Street": "street",
                "Business City": "city",
                "Business State": "region",
                "Business Postal Code": "postal_code",
                "Business Country/Region": "country",
                "Birthday": "birthday",
                "Notes": "fields.notes",
                "E-mail Type": IGNORE,
                "E-mail Display Name": IGNORE,
                "E-mail 2 Type": IGNORE,
                "E-mail 2 Display Name": IGNORE,
                "E-mail 3 Type": IGNORE,
                "E-mail 3 Display Name": IGNORE,
            },
        ),
        _p(
            "linkedin",
            "contacts",
            "LinkedIn connections",
            ["first name|last name|connected on|position"],
            {
                "Email Address": "emails",
                "Company": "org",
                "Position": "title",
                "URL": "social.linkedin",
                "Connected On": "created_at",
            },
        ),
        _p(
            "chinook-customers",
            "contacts",
            "Chinook customers",
            ["customerid|firstname|lastname|supportrepid"],
            {
                "CustomerId": "external_id",
                "Company": "org",
                "PostalCode": "postal_code",
                "Phone": "phones",
                "Fax": "phones:fax",
                "Email": "emails",
                "SupportRepId": "owner_ref",
                **_ADDRESS,
            },
        ),
        _p(
            "chinook-employees",
            "users",
            "Chinook employees",
            ["employeeid|firstname|lastname|reportsto"],
            {
                "EmployeeId": "external_id",
                "Title": "title",
                "ReportsTo": "manager_ref",
                "BirthDate": "birthday",
                "HireDate": "fields.hire_date",
                "PostalCode": "postal_code",
                "Phone": "phones",
                "Fax": "phones:fax",
                "Email": "emails",
                **_ADDRESS,
            },
        ),
        _p(
            "chinook-invoices",
            "orders",
            "Chinook invoices",
            ["invoiceid|customerid|invoicedate|total"],
            {
                "InvoiceId": "number",
                "CustomerId": "contact",
                "InvoiceDate": "date",
                "Total": "total",
            },
        ),
        _p(
            "chinook-invoice-lines",
            "order_lines",
            "Chinook invoice lines",
            ["invoicelineid|invoiceid|trackid"],
            {
                "InvoiceLineId": "external_id",
                "InvoiceId": "number",
                "TrackId": "sku",
                "UnitPrice": "unit_price",
                "Quantity": "quantity",
            },
        ),
        _p(
            "online-retail",
            "orders",
            "UCI Online Retail (one row per order line)",
            ["invoiceno|stockcode|unitprice|customerid"],
            {
                "InvoiceNo": "number",
                "StockCode": "sku",
                "Description": "description",
                "Quantity": "quantity",
                "InvoiceDate": "date",
                "UnitPrice": "unit_price",
                "CustomerID": "contact",
                "Country": "country",
            },
        ),
        _p(
            "splink",
            "contacts",
            "splink person records",
            ["unique_id|first_name|surname|dob|cluster"],
            {
                "unique_id": "external_id",
                "surname": "last_name",
                "dob": "birthday",
                "email": "emails",
                "cluster": IGNORE,  # the ground truth: never imported
            },
        ),
        _p(
            "dedupe-chicago",
            "orgs",
            "dedupe.io Chicago early-childhood sites",
            ["true id|site name|idhs provider id"],
            {
                "True Id": IGNORE,  # the ground truth: never imported
                "Id": "external_id",
                "Site name": "name",
                "Address": "street",
                "Zip": "postal_code",
                "Phone": "phones",
                "Fax": "phones:fax",
                "Website": "domain",
            },
        ),
        _p(
            "gen-data",
            "contacts",
            "crm test data (id,name,email,phone,company,tags,created,notes)",
            ["id|name|email|phone|company|tags|created"],
            {"id": "external_id", "created": "created_at", "notes": "fields.notes"},
        ),
    )
}

# Common column names per kind, used for columns a preset does not name.
_COMMON = {
    "name": "fullname displayname",
    "first_name": "firstname givenname forename first",
    "last_name": "lastname surname familyname last",
    "title": "title jobtitle position",
    "org": "org organization organisation company companyname account accountname employer",
    "tags": "tags tag labels categories groups groupmembership",
    "source": "source leadsource",
    "owner": "owner ownername salesrep accountowner",
    "stage": "stage lifecyclestage",
    "consent": "consent emailconsent marketingconsent newsletter",
    "birthday": "birthday birthdate dateofbirth dob",
    "street": "street address address1 addressline1 streetaddress",
    "city": "city town",
    "region": "region state province stateprovince county",
    "postal_code": "postalcode zip zipcode postcode",
    "country": "country countryregion",
    "created_at": "created createdat createddate datecreated",
    "external_id": "externalid",
    "domain": "domain website url web homepage",
    "industry": "industry sector",
    "size": "size employees numberofemployees headcount companysize",
    "amount": "amount value dealvalue",
    "currency": "currency currencycode currencyisocode",
    "status": "status",
    "close": "close closedate expectedclose expectedclosedate",
    "lost_reason": "lostreason reasonlost",
    "contact": "contact contactemail customer customerid customeremail",
    "number": "number ordernumber orderno invoicenumber invoiceno orderid",
    "date": "date orderdate invoicedate day reportingstarts",
    "cost": "cost spend amountspent amountspenteur amountspentusd amountspentgbp totalcost",
    "impressions": "impressions impr",
    "clicks": "clicks linkclicks clicksall",
    "conversions": "conversions results purchases conv",
    "label": "label adgroup adset adsetname adname ad adgroupname",
    "total": "total ordertotal",
    "coupon": "coupon couponcode promocode discountcode voucher vouchercode",
    "sku": "sku productcode stockcode",
    "description": "description product productname item",
    "quantity": "quantity qty",
    "unit_price": "unitprice price",
    "fields.notes": "notes note comments",
    "visitor_id": "visitorid visitor clientid anonymousid cookieid deviceid sessionvisitor",
    "at": "at time timestamp startedat sessionstart visitedat datetime visittime date"
    " deliveredat sentat printedat returnedat openedat",
    "channel": "channel deliverychannel",
    "count": "count times numberoftimes timesshown receipts",
    "contact_id": "contactid",
    "landing_page": "landingpage landing entrypage page path url",
    "referrer": "referrer referer referringurl",
    "utm_source": "utmsource source",
    "utm_medium": "utmmedium medium",
    "utm_campaign": "utmcampaign campaign",
    "pages": "pages pageviews pagesviewed views",
}
_ALIASES: dict[str, list[str]] = {}
for _target, _names in _COMMON.items():
    for _n in _names.split():
        _ALIASES.setdefault(_n, []).append(_target)
_DEAL_TITLE = frozenset({"name", "title", "dealname", "opportunityname", "subject"})
_LABELS = {
    "work": "work",
    "business": "work",
    "office": "work",
    "home": "home",
    "personal": "home",
    "private": "home",
    "mobile": "mobile",
    "cell": "mobile",
    "fax": "fax",
    "other": "other",
}
_LABEL_RE = "|".join(_LABELS)
_EMAIL = re.compile(rf"^({_LABEL_RE})?e?mail(?:address)?(\d*)(?:address)?({_LABEL_RE})?(\d*)$")
_PHONE = re.compile(
    rf"^({_LABEL_RE})?(phone|telephone|tel|phonenumber|mobile|mobilephone|cell|cellphone|fax)"
    rf"(?:number)?(\d*)({_LABEL_RE})?(\d*)$"
)
# Google's numbered pairs: "E-mail 1 - Type" / "E-mail 1 - Value" (or "- Label").
_TYPED = re.compile(r"^(e?mail|phone)(\d+)(type|label|value)$")


def _common(key: str, kind: str) -> str | None:
    """Our target for a normalised column name, or None."""
    allowed = FIELDS[kind]
    if kind == "deals" and key in _DEAL_TITLE:
        return "title"
    if kind in ("orgs", "order_lines", "orders") and key in ("name", "companyname", "company"):
        return "name" if kind == "orgs" else None
    if key in ("id", "uniqueid") or key == kind.rstrip("s") + "id":
        return "external_id"
    if key == "name" and "name" in allowed:
        return "name"
    m = _TYPED.match(key)
    if m:
        what = "emails" if m.group(1).endswith("mail") else "phones"
        if what in allowed:
            return f"{what}#{m.group(2)}" + (".type" if m.group(3) != "value" else "")
    m = _EMAIL.match(key)
    if m and "emails" in allowed:
        label = _LABELS.get(m.group(1) or m.group(3) or "")
        return f"emails:{label}" if label else "emails"
    m = _PHONE.match(key)
    if m and "phones" in allowed:
        word = (
            m.group(1) or m.group(4) or ("mobile" if m.group(2).startswith(("mob", "cell")) else "")
        )
        word = "fax" if m.group(2) == "fax" else word
        label = _LABELS.get(word)
        return f"phones:{label}" if label else "phones"
    for target in _ALIASES.get(key, ()):
        if target.startswith("fields.") or target in allowed:
            return target
    return None


def _family(kind: str) -> set[str]:
    return {"orders", "order_lines"} if kind in ("orders", "order_lines") else {kind}


def _check_kind(kind: str) -> None:
    if kind not in FIELDS:
        raise InvalidInput(f"unknown record kind {kind!r}: use one of {', '.join(FIELDS)}")


def identify(header: list[str]) -> Preset | None:
    """The preset whose signature the header matches best, of any kind."""
    keys = {norm(c) for c in header}
    best, size = None, 0
    for p in PRESETS.values():
        for sig in p.signatures:
            if sig <= keys and len(sig) > size:
                best, size = p, len(sig)
    return best


def detect(header: list[str], kind: str) -> tuple[str | None, dict[str, str]]:
    """Recognise a known export and map the columns we know: (preset name or None, mapping)."""
    _check_kind(kind)
    keys = {norm(c) for c in header}
    preset, size = None, 0
    for p in PRESETS.values():
        if p.kind in _family(kind):
            for sig in p.signatures:
                if sig <= keys and len(sig) > size:
                    preset, size = p, len(sig)
    columns: dict[str, str] = {}
    for col in header:
        key = norm(col)
        target = preset.columns.get(key) if preset else None
        target = target or _common(key, kind)
        if target:
            columns[col] = target
    return (preset.name if preset else None), columns


def check_target(target: str, kind: str | None = None) -> str:
    """Validate one mapping target for a kind (any kind when None); return it stripped."""
    t = target.strip()
    kinds = [kind] if kind else list(FIELDS)
    if t == IGNORE:
        return t
    if t.startswith(("fields.", "social.")):
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", t.split(".", 1)[1]):
            raise InvalidInput(
                f"invalid custom field name in {t!r}: letters, digits, '_' and '-' only"
            )
        return t
    base, _, label = t.partition(":")
    if label and (base not in ("emails", "phones") or not re.fullmatch(r"[\w-]+", label)):
        raise InvalidInput(f"invalid target {t!r}: only emails:LABEL and phones:LABEL take a label")
    if not any(base in FIELDS[k] for k in kinds):
        known = sorted(FIELDS[kind]) if kind else sorted(set().union(*FIELDS.values()))
        raise InvalidInput(
            f"unknown field {base!r}: use one of {', '.join(known)}, fields.NAME or - (ignore)"
        )
    return t


def parse_map(items: list[str], kind: str | None = None) -> dict[str, str]:
    """Parse repeated --map "Column Name=field" options into a mapping."""
    out: dict[str, str] = {}
    for item in items or ():
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise InvalidInput(f'--map takes "Column Name=field", not {item!r}')
        out[column.strip()] = check_target(target, kind)
    return out


def load_map_file(path, kind: str | None = None) -> dict[str, str]:
    """Read a --map-file: TOML with a [columns] table of "Column Name" = "field"."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{path}: not valid TOML: {e}") from None
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise InvalidInput(f'{path}: needs a [columns] table of "Column Name" = "field"')
    out = {}
    for column, target in columns.items():
        if not isinstance(target, str):
            raise InvalidInput(f"{path}: the target of {column!r} must be a string")
        out[column.strip()] = check_target(target, kind)
    return out


def lookup(columns: dict[str, str], header: list[str]) -> dict[str, str]:
    """Match mapping keys to header columns case- and space-insensitively."""
    by_key = {norm(k): v for k, v in columns.items()}
    return {c: by_key[norm(c)] for c in header if norm(c) in by_key}


_TAG_SPLIT = re.compile(r"\s*:::\s*|[,;]")
_LIST_SPLIT = re.compile(r"\s*:::\s*")
_EMAIL_SPLIT = re.compile(r"\s*:::\s*|[,;\s]+")
_TRUE = frozenset({"true", "yes", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "0", "n", "f"})


def build(
    values: dict[str, str], columns: dict[str, str], kind: str, *, ignore_unknown: bool = False
) -> dict:
    """Turn one row ({column: cell}) into a record dict for ``kind`` using a mapping."""
    _check_kind(kind)
    out: dict = {}
    custom: dict[str, str] = {}
    social: dict[str, str] = {}
    typed: dict[tuple[str, str], dict] = {}  # Google's numbered type/value pairs
    flags: dict[str, str] = {}
    plan = _plan(columns, kind, ignore_unknown)
    for column, cell in values.items():
        if cell is None:
            continue
        step = plan.get(column) or _step(plan, column, columns, kind, ignore_unknown)
        action = step[0]
        if action is _DO_SKIP:
            continue
        value = unguard(cell.strip())
        if not value or (not step[1] and value.casefold() in NULLS):
            continue
        if action is _DO_CUSTOM:
            if step[3]:  # an unknown column: a field of that name from the mapping wins
                custom.setdefault(step[2], value)
            else:
                custom[step[2]] = value
        elif action is _DO_SOCIAL:
            social[step[2]] = value
        elif action is _DO_TYPED:
            slot = typed.setdefault(step[2], {})
            slot[step[3]] = value
        elif action is _DO_FLAG:
            flags[step[2]] = value.casefold()
        elif action is _DO_TAGS:
            out.setdefault("tags", []).extend(_tags(value))
        elif action is _DO_LIST:
            base, label = step[2], step[3]
            for part in (_EMAIL_SPLIT if base == "emails" else _LIST_SPLIT).split(value):
                if part and part.casefold() not in NULLS:
                    out.setdefault(base, []).append({"value": part, "label": label})
        elif step[2] not in out:  # several columns for one field: the first filled one wins
            out[step[2]] = value
    for (base, _n), slot in sorted(typed.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        if slot.get("value"):
            label = _google_label(slot.get("label"))
            for part in (
                _EMAIL_SPLIT.split(slot["value"])
                if base == "emails"
                else _LIST_SPLIT.split(slot["value"])
            ):
                if part:
                    out.setdefault(base, []).append({"value": part, "label": label})
    if "tags" in out:
        out["tags"] = list(dict.fromkeys(out["tags"]))
    if "consent" in out:
        v = out["consent"].casefold()
        out["consent"] = "granted" if v in _TRUE else "unknown" if v in _FALSE else out["consent"]
    if kind == "deals":
        from crm_cli.domain.deals import status_from

        status = status_from(out.get("status"), out.get("stage"), flags)
        if status:
            out["status"] = status
    if custom:
        out["fields"] = custom
    if social:
        out["social"] = social
    return out


# What build() does with one column, worked out once per mapping: (action, free text?, ...).
_DO_SKIP, _DO_CUSTOM, _DO_SOCIAL, _DO_TYPED, _DO_FLAG, _DO_TAGS, _DO_LIST, _DO_SCALAR = (
    "skip", "custom", "social", "typed", "flag", "tags", "list", "scalar"
)  # fmt: skip
_PLANS: dict[tuple, tuple[dict[str, str], dict[str, tuple]]] = {}


def _plan(columns: dict[str, str], kind: str, ignore_unknown: bool) -> dict[str, tuple]:
    """The steps for this mapping's columns (a mapping is not changed once rows are built)."""
    key = (id(columns), kind, ignore_unknown)
    found = _PLANS.get(key)
    if found is None or found[0] is not columns:  # the cache holds columns: ids stay unique
        if len(_PLANS) > 64:
            _PLANS.clear()
        found = _PLANS[key] = (columns, {})
    return found[1]


def _step(plan, column: str, columns: dict[str, str], kind: str, ignore_unknown: bool) -> tuple:
    target = columns.get(column)
    if target is not None and target != IGNORE and not _usable(target, kind):
        target = None  # a field this kind lacks: kept like an unknown column
    if target == IGNORE or (target is None and ignore_unknown):
        step: tuple = (_DO_SKIP,)
    elif target is None:  # an unknown column: a custom field unless another has its name
        step = (_DO_CUSTOM, True, slug(column), True)
    else:
        free = target in FREE_TEXT or target.startswith(("fields.", "social."))
        if target.startswith("fields."):
            step = (_DO_CUSTOM, free, target[7:], False)
        elif target.startswith("social."):
            step = (_DO_SOCIAL, free, target[7:])
        elif "#" in target:
            base, _, rest = target.partition("#")
            n, _, part = rest.partition(".")
            step = (_DO_TYPED, free, (base, n), "label" if part == "type" else "value")
        elif target in _PSEUDO:
            step = (_DO_FLAG, free, target)
        else:
            base, _, label = target.partition(":")
            if base == "tags":
                step = (_DO_TAGS, free)
            elif base in ("emails", "phones"):
                step = (_DO_LIST, free, base, label or None)
            else:
                step = (_DO_SCALAR, free, base)
    plan[column] = step
    return step


def _usable(target: str, kind: str) -> bool:
    if target.startswith(("fields.", "social.")) or target in _PSEUDO:
        return True
    return target.partition("#")[0].partition(":")[0] in FIELDS[kind]


def _tags(value: str) -> list[str]:
    out = []
    for t in _TAG_SPLIT.split(value):
        t = t.strip().removeprefix("* ").strip()
        if t and t.casefold() not in NULLS and t.casefold() != "mycontacts":
            out.append(t)
    return out


def _google_label(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().removeprefix("* ").strip().casefold()
    return _LABELS.get(label, label) or None
