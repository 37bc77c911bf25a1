"""Every test gets its own database and config dir, a fixed clock and a fixed user."""

from __future__ import annotations

import json
import os
import socket
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from crm_cli.cli import app

NOW = "2026-03-10T09:00:00+01:00"

# CI runs the same examples every time (a red build must be reproducible); local runs
# keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point CRM_DB and CRM_CONFIG_DIR at tmp_path and fix the clock and the acting user."""
    monkeypatch.setenv("CRM_DB", str(tmp_path / "crm.db"))
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "config.toml").write_text('[time]\nzone = "Europe/Madrid"\n', encoding="utf-8")
    monkeypatch.setenv("CRM_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("CRM_NOW", NOW)
    monkeypatch.setenv("CRM_USER", "tester")
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    return tmp_path


class Crm:
    """Run crm commands in-process and look at stdout, stderr and the exit code apart."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True):
        result = self.runner.invoke(app, list(args), input=input)
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"crm {' '.join(args)} exited {result.exit_code}\nstdout: {result.stdout}\n"
                f"stderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)

    def fails(self, *args: str, code: int | None = None, input: str | None = None):
        result = self(*args, input=input, ok=False)
        assert result.exit_code != 0, f"crm {' '.join(args)} should have failed: {result.stdout}"
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        if result.exit_code != 2:  # usage errors are Typer's own format
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("crm: error: "), result.stderr
        return result


@pytest.fixture
def crm():
    return Crm()


# -- a real SMTP server on 127.0.0.1 (aiosmtpd) for the mail paths ----------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collect:
    def __init__(self, reply: str = "250 OK"):
        self.messages = []
        self.reply = reply

    async def handle_DATA(self, server, session, envelope):
        if self.reply.startswith("250"):
            self.messages.append(
                (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default_policy))
            )
        return self.reply


@pytest.fixture
def smtp_handler():
    """Start a real SMTP server on 127.0.0.1 around an aiosmtpd handler; returns its port.
    Servers stop at the end of the test."""
    from aiosmtpd.controller import Controller

    servers = []

    def start(handler) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        servers.append(controller)
        return port

    yield start
    for c in servers:
        c.stop()


@pytest.fixture
def smtp_server(isolated):
    from aiosmtpd.controller import Controller

    servers = []

    def start(reply: str = "250 OK") -> Collect:
        handler = Collect(reply)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        servers.append(controller)
        configure_smtp(isolated, port)
        return handler

    yield start
    for c in servers:
        c.stop()


def configure_smtp(tmp_path, port: int) -> None:
    """Point the test config at an SMTP server on 127.0.0.1:port (no TLS)."""
    (tmp_path / "config" / "config.toml").write_text(
        '[time]\nzone = "Europe/Madrid"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        'from = "crm@example.com"\n',
        encoding="utf-8",
    )
