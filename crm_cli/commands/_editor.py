"""Edit a record in $EDITOR as TOML; a bad edit is re-offered, never half-applied."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import typer

from crm_cli.errors import Conflict, InvalidInput

HEADER = """\
# Edit the contact and save; close without saving to cancel.
# Empty strings clear a field. Emails and phones: the first one is the primary.
# id {id}, created {created_at}, updated {updated_at}
"""


def _editor() -> list[str]:
    cmd = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(cmd)


def edit_contact(db, contact_id: int) -> None:
    """Open the contact in $EDITOR and apply the saved document."""
    import tomli_w

    from crm_cli.domain import contacts

    c = contacts.get(db, contact_id)
    text = HEADER.format(id=c.id, created_at=c.created_at, updated_at=c.updated_at) + tomli_w.dumps(
        contacts.to_editable(c)
    )
    fd, path = tempfile.mkstemp(prefix=f"crm-contact-{c.id}-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        while True:
            try:
                subprocess.run([*_editor(), path], check=True)
            except (OSError, subprocess.CalledProcessError) as e:
                raise InvalidInput(f"editor failed: {e}") from None
            with open(path, encoding="utf-8") as f:
                edited = f.read()
            if edited == text:
                print("no changes", file=sys.stderr)
                return
            try:
                doc = tomllib.loads(edited)
                result = contacts.replace_from_editable(db, c.id, doc, base=c)
            except Conflict as e:
                kept = Path(tempfile.gettempdir()) / f"crm-contact-{c.id}-unsaved.toml"
                kept.write_text(edited, encoding="utf-8")
                raise Conflict(f"{e}; nothing was changed, your edit is kept in {kept}") from None
            except (tomllib.TOMLDecodeError, InvalidInput) as e:
                if not sys.stdin.isatty():
                    raise InvalidInput(f"{e} (nothing was changed)") from None
                print(f"crm: error: {e}", file=sys.stderr)
                if not typer.confirm("Edit again?", default=True, err=True):
                    raise InvalidInput("edit abandoned; nothing was changed") from None
                continue
            if result is None:
                print("no changes", file=sys.stderr)
            else:
                print(result.id)
            return
    finally:
        os.unlink(path)
