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
    sender: str | None


def settings(*, need_sender: bool = True) -> Smtp:
    """Read and check the smtp.* settings (before anything is claimed or sent); a campaign
    has its own sender, so it does not need smtp.from."""
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
    if not sender and need_sender:
        raise InvalidInput("no sender address: set one with crm config set smtp.from ADDRESS")
    return Smtp(str(host).strip(), port, security, user, password, sender)


def check_address(to: str) -> str:
    """A recipient address, checked enough to refuse obvious mistakes before sending."""
    addr = (to or "").strip()
    if not addr or "@" not in addr or any(c.isspace() for c in addr) or "," in addr:
        raise InvalidInput(f"{to!r} is not an email address")
    return addr


def connect(smtp: Smtp):
    """An SMTP connection, secured and logged in as configured (closed if that fails)."""
    import smtplib
    import ssl

    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=TIMEOUT, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
    try:
        client.ehlo_or_helo_if_needed()
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


def send(smtp: Smtp, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; any failure raises MailFailed with one line."""
    import smtplib
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
        client = connect(smtp)
        try:
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


# ---------------------------------------------------------------- campaign delivery


class SmtpTransport:
    """One SMTP connection reused for many messages, with each outcome told apart:
    refused before the message was handed over (nothing delivered), refused after it
    (4xx temporary / 5xx permanent), or the connection lost while the server had the
    message and had not answered yet (it may have arrived: in doubt)."""

    def __init__(self, smtp: Smtp):
        self.smtp = smtp
        self.via = f"smtp {smtp.host}:{smtp.port}"
        self.client = None

    def _connect(self):
        self.client = connect(self.smtp)

    def _drop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None

    def send(self, message, sender: str, recipient: str):
        """Deliver one message; reconnects once when the server dropped an idle connection."""
        import smtplib

        from crm_cli.domain.campaigns import Outcome

        for attempt in (1, 2):
            try:
                return self._send(message, sender, recipient)
            except _Unsent as e:
                self._drop()
                if attempt == 2:
                    return Outcome(
                        "unsent", f"cannot send via {self.smtp.host}:{self.smtp.port}: {e}"
                    )
            except smtplib.SMTPException as e:  # pragma: no cover - mapped in _send
                self._drop()
                return Outcome("unsent", str(e))
        raise AssertionError("unreachable")

    def _send(self, message, sender: str, recipient: str):
        import re
        import smtplib
        from email.policy import SMTP, SMTPUTF8

        from crm_cli.domain.campaigns import Outcome

        try:
            if self.client is None:
                self._connect()
            client = self.client
            utf8 = not (sender.isascii() and recipient.isascii())
            if utf8 and not client.has_extn("smtputf8"):
                return Outcome(
                    "permanent", f"{recipient}: non-ASCII address, server lacks SMTPUTF8"
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
            code, resp = client.mail(sender, options)
            if code != 250:
                client.rset()
                return _refused(code, resp, "MAIL FROM")
            code, resp = client.rcpt(recipient)
            if code not in (250, 251):
                client.rset()
                return _refused(code, resp, recipient)
            code, resp = client.docmd("DATA")
            if code != 354:
                client.rset()
                return _refused(code, resp, "DATA")
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as e:
            raise _Unsent(getattr(e, "strerror", None) or str(e) or type(e).__name__) from None
        except smtplib.SMTPException as e:
            raise _Unsent(str(e) or type(e).__name__) from None
        # From here on the server has (part of) the message: a broken connection is doubt.
        try:
            data = message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
            data = re.sub(rb"(?m)^\.", b"..", data)
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            client.send(data + b".\r\n")
            code, resp = client.getreply()
        except (smtplib.SMTPException, OSError) as e:
            self._drop()
            return Outcome("unknown", f"connection lost after the message was sent: {e}")
        if code == 250:
            return Outcome("sent", _text(resp))
        return _refused(code, resp, recipient)

    def delivered(self, message_id: str):
        return None  # an SMTP server cannot be asked afterwards

    def close(self) -> None:
        if self.client is not None:
            import smtplib

            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()


class _Unsent(Exception):
    """Nothing of the message reached the server."""


def _text(resp) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)


def _refused(code: int, resp, what: str):
    from crm_cli.domain.campaigns import Outcome

    kind = "temporary" if 400 <= code < 500 else "permanent"
    return Outcome(kind, f"{what}: {code} {_text(resp)}".strip())


class OutboxTransport:
    """Write each message as an .eml file into a folder (written aside, then renamed into
    place, so a file is either whole or absent); a later run can tell what arrived."""

    def __init__(self, folder):
        from pathlib import Path

        self.folder = Path(folder).expanduser()
        # Checked now, made on the first message: a send refused before it starts (a
        # pre-send hook, no unsubscribe URL) leaves no empty folder behind.
        existing = next((p for p in (self.folder, *self.folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            raise InvalidInput(f"cannot write to outbox {self.folder}")
        self.via = f"outbox {self.folder.resolve()}"

    def _path(self, message_id: str):
        import hashlib

        name = hashlib.sha256(message_id.encode()).hexdigest()[:24]
        return self.folder / f"{name}.eml"

    def send(self, message, sender: str, recipient: str):
        from email.policy import SMTPUTF8

        from crm_cli.domain.campaigns import Outcome

        path = self._path(str(message["Message-ID"]))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(f"X-Envelope-From: {sender}\r\nX-Envelope-To: {recipient}\r\n".encode())
                f.write(message.as_bytes(policy=SMTPUTF8))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            try:
                tmp.unlink()
            except OSError:
                pass
            return Outcome("unsent", f"cannot write to {self.folder}: {e.strerror or e}")
        return Outcome("sent", str(path))

    def delivered(self, message_id: str):
        return self._path(message_id).exists()

    def close(self) -> None:
        pass
