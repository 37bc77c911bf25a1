"""Send plain-text mail over SMTP as configured (smtp.* keys); smtplib loads on first use.

The password never lives in the config file: ``smtp.password_env`` names the
environment variable that holds it. ``smtp.security`` is ``starttls`` (default),
``ssl`` (implicit TLS, usually port 465) or ``none`` (a local relay).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from crm_cli import config
from crm_cli.errors import CrmError, InvalidInput

SECURITY = ("starttls", "ssl", "none")
TIMEOUT = 30


class MailFailed(CrmError):
    """The SMTP server could not be reached or refused the message (exit 1)."""


@dataclass(frozen=True, slots=True)
class Smtp:
    host: str
    port: int
    security: str
    user: str | None
    password: str | None
    sender: str


def settings() -> Smtp:
    """Read and check the smtp.* settings (before anything is claimed or sent)."""
    host = config.get("smtp.host")
    if not host or not str(host).strip():
        raise InvalidInput("no SMTP server configured: set one with crm config set smtp.host HOST")
    port = config.get("smtp.port")
    if not 0 < port < 65536:
        raise InvalidInput(f"smtp.port must be from 1 to 65535, not {port}")
    security = str(config.get("smtp.security") or "starttls").strip().lower()
    if security not in SECURITY:
        raise InvalidInput(f"smtp.security must be one of {', '.join(SECURITY)}, not {security!r}")
    user = config.get("smtp.user") or None
    env = config.get("smtp.password_env") or None
    password = None
    if env:
        password = os.environ.get(env)
        if password is None:
            raise InvalidInput(
                f"smtp.password_env names ${env}, which is not set in the environment"
            )
        if not user:
            raise InvalidInput("smtp.password_env is set but smtp.user is not: set the login too")
    elif user:
        raise InvalidInput(
            "smtp.user is set but smtp.password_env is not: name the environment variable"
            " holding the password (crm config set smtp.password_env CRM_SMTP_PASSWORD)"
        )
    sender = config.get("smtp.from") or (user if user and "@" in user else None)
    if not sender:
        raise InvalidInput("no sender address: set one with crm config set smtp.from ADDRESS")
    return Smtp(str(host).strip(), port, security, user, password, sender)


def check_address(to: str) -> str:
    """A recipient address, checked enough to refuse obvious mistakes before sending."""
    addr = (to or "").strip()
    if not addr or "@" not in addr or any(c.isspace() for c in addr) or "," in addr:
        raise InvalidInput(f"{to!r} is not an email address")
    return addr


def send(smtp: Smtp, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; any failure raises MailFailed with one line."""
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    try:
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        try:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            refused = client.send_message(msg)
        except BaseException:
            client.close()
            raise
        # The server has accepted the message: it is sent, whatever QUIT answers.
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
        if refused:
            raise MailFailed(f"the SMTP server refused {', '.join(refused)}")
    except MailFailed:
        raise
    except smtplib.SMTPResponseException as e:
        text = (
            e.smtp_error.decode("utf-8", "replace")
            if isinstance(e.smtp_error, bytes)
            else str(e.smtp_error)
        )
        raise MailFailed(f"SMTP server {smtp.host}:{smtp.port} said {e.smtp_code} {text}") from None
    except smtplib.SMTPRecipientsRefused as e:
        raise MailFailed(f"the SMTP server refused {', '.join(e.recipients)}") from None
    except (smtplib.SMTPException, OSError) as e:  # timeouts and TLS errors are OSErrors
        reason = getattr(e, "strerror", None) or str(e) or e.__class__.__name__
        raise MailFailed(f"cannot send mail via {smtp.host}:{smtp.port}: {reason}") from None
