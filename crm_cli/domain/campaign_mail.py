"""Campaign messages: Jinja2 templates in a sandbox, personalised per contact, and the
message itself with its RFC 8058 unsubscribe headers.

Templates see the contact's fields as plain variables (``{{ first_name }}``,
``{{ org }}``, ``{{ field.plan }}`` for custom fields). A field the contact has no value
for is *undefined*, not empty: ``{{ first_name | default("there") }}`` gives the
default, and a bare ``{{ first_name }}`` for a contact without one is an error caught
before anything is sent, so nobody gets "Dear ,".
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from functools import lru_cache

from crm_cli.errors import InvalidInput

# What a template may use besides the contact's custom fields (``field.KEY``).
VARIABLES = (
    "id", "name", "first_name", "last_name", "title", "org", "email", "phone", "city",
    "region", "country", "postal_code", "street", "stage", "source", "owner", "tags",
    "birthday", "field", "campaign", "unsubscribe_url",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@lru_cache(maxsize=4)
def _env(html: bool):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=True
    )


@lru_cache(maxsize=64)
def _compiled(source: str, html: bool):
    return _env(html).from_string(source)


def check(source: str, what: str, *, html: bool = False) -> None:
    """Compile a template; a syntax error is InvalidInput naming the line."""
    from jinja2 import TemplateSyntaxError

    try:
        _compiled(source, html)
    except TemplateSyntaxError as e:
        raise InvalidInput(f"{what}: line {e.lineno}: {e.message}") from None


def context(contact, email: str | None, *, campaign: str, unsubscribe_url: str | None) -> dict:
    """The variables one contact's message is rendered with; empty values are left out."""
    phone = next((p.value for p in contact.phones if p.primary), None) or (
        contact.phones[0].value if contact.phones else None
    )
    values = {
        "id": contact.id, "name": contact.name, "first_name": contact.first_name,
        "last_name": contact.last_name, "title": contact.title, "org": contact.org,
        "email": email, "phone": phone, "city": contact.city, "region": contact.region,
        "country": contact.country, "postal_code": contact.postal_code,
        "street": contact.street, "stage": contact.stage, "source": contact.source,
        "owner": contact.owner, "tags": list(contact.tags) or None,
        "birthday": contact.birthday,
        "field": {k: v for k, v in contact.custom.items() if v not in (None, "")},
        "campaign": campaign, "unsubscribe_url": unsubscribe_url,
    }  # fmt: skip
    return {k: v for k, v in values.items() if v not in (None, "")}


def render(subject: str, text: str, html: str | None, ctx: dict) -> Rendered:
    """Render one message; a missing field without a default is InvalidInput."""
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        subj = _compiled(subject, False).render(ctx)
        body = _compiled(text, False).render(ctx)
        page = _compiled(html, True).render(ctx) if html else None
    except UndefinedError as e:
        raise InvalidInput(f"template: {_undefined(e)}") from None
    except SecurityError as e:
        raise InvalidInput(f"template: not allowed in the sandbox: {e}") from None
    except TemplateError as e:
        raise InvalidInput(f"template: {e}") from None
    except (TypeError, ValueError, ArithmeticError) as e:
        raise InvalidInput(f"template: {e}") from None
    return Rendered(" ".join(subj.split()), body, page)


def _undefined(e) -> str:
    msg = str(e)
    # "'first_name' is undefined" reads better with the way out.
    if msg.endswith(" is undefined"):
        name = msg.removesuffix(" is undefined").strip("'\"")
        return (
            f"{name} is missing for this contact; give a default: {{{{ {name} | default('…') }}}}"
        )
    return msg


@lru_cache(maxsize=1)
def _policy():
    """The default email policy, with each header class made once: the standard library's
    HeaderRegistry builds a new class for every header it sets, which was the biggest single
    cost of sending (bench/campaign.py: a third of building a message)."""
    from email.headerregistry import HeaderRegistry
    from email.policy import default

    class Headers(HeaderRegistry):
        def __init__(self):
            super().__init__()
            self.made: dict[str, type] = {}

        def __getitem__(self, name):
            key = name.lower()
            cls = self.made.get(key)
            if cls is None:
                cls = self.made[key] = super().__getitem__(name)
            return cls

    return default.clone(header_factory=Headers())


def message(
    r: Rendered, *, sender: str, to_name: str | None, to_email: str, message_id: str,
    date: str, unsubscribe: list[str],
) -> EmailMessage:  # fmt: skip
    """The message as sent: text, with the HTML as an alternative when there is one."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    msg = EmailMessage(policy=_policy())
    msg["From"] = sender
    try:
        msg["To"] = Address(display_name=to_name or "", addr_spec=to_email)
    except (ValueError, IndexError, TypeError):
        msg["To"] = parseaddr(to_email)[1] or to_email
    msg["Subject"] = r.subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = ", ".join(f"<{u}>" for u in unsubscribe)
    if any(u.startswith("https://") for u in unsubscribe):
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(r.text)
    if r.html:
        msg.add_alternative(r.html, subtype="html")
    return msg
