"""Hooks: real executables in the config dir's hooks/ folder, run by real commands."""

from __future__ import annotations

import json
import os
import stat

import pytest


@pytest.fixture
def hookdir(isolated):
    d = isolated / "config" / "hooks"
    d.mkdir()
    return d


def hook(d, name: str, body: str, *, executable: bool = True):
    """A shell hook; ``$LOG`` is a file beside it collecting what it was given."""
    p = d / name
    p.write_text(f"#!/bin/sh\nLOG={d}/{name}.log\n{body}\n", encoding="utf-8")
    if executable:
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def runs(d, name: str) -> list[list[dict]]:
    """Each run's input, as the parsed JSON lines (runs are separated by '---')."""
    log = d / f"{name}.log"
    if not log.exists():
        return []
    out = []
    for chunk in log.read_text(encoding="utf-8").split("---\n"):
        if chunk.strip():
            out.append([json.loads(line) for line in chunk.splitlines() if line.strip()])
    return out


RECORD = 'cat >> "$LOG"; echo --- >> "$LOG"'


def test_on_add_modify_delete_get_the_change_set(crm, hookdir):
    for event in ("on-add", "on-modify", "on-delete"):
        hook(hookdir, event, RECORD)
    cid = crm("contact", "add", "Ann Lee", "--email", "ann@example.com").stdout.strip()
    crm("contact", "edit", cid, "--title", "CEO")
    crm("contact", "delete", cid, "--yes")
    (added,) = runs(hookdir, "on-add")
    head, *changes = added
    assert head["hook"] == "on-add" and head["set"]["label"].startswith("contact add")
    assert head["set"]["actor"] == "tester" and head["changes"] == len(changes)
    assert {(c["table"], c["op"]) for c in changes} == {
        ("contacts", "insert"),
        ("emails", "insert"),
    }
    contact = next(c for c in changes if c["table"] == "contacts")
    assert contact["after"]["name"] == "Ann Lee" and contact["before"] is None
    (modified,) = runs(hookdir, "on-modify")
    change = next(c for c in modified[1:] if c["table"] == "contacts")
    assert (change["before"]["title"], change["after"]["title"]) == (None, "CEO")
    (deleted,) = runs(hookdir, "on-delete")
    assert {c["table"] for c in deleted[1:]} >= {"contacts", "emails"}
    # crm undo is a change too: undoing the delete adds the contact back.
    crm("undo")
    assert len(runs(hookdir, "on-add")) == 2


def test_hooks_get_their_environment_and_speak_on_stderr(crm, hookdir, isolated):
    hook(hookdir, "on-add.env", 'echo "$CRM_HOOK $CRM_SET_ID $CRM_DB"; cat > /dev/null')
    result = crm("contact", "add", "Ann")
    assert result.stdout.strip().isdigit()  # stdout stays the command's data
    event, set_id, db = result.stderr.strip().split()
    assert event == "on-add" and int(set_id) > 0 and db == str(isolated / "crm.db")


def test_an_import_fires_one_post_import_and_no_on_add(crm, hookdir, isolated):
    hook(hookdir, "on-add", RECORD)
    hook(hookdir, "post-import", RECORD)
    f = isolated / "people.csv"
    f.write_text("name,email\n" + "".join(f"P{i},p{i}@example.com\n" for i in range(30)))
    crm("import", "contacts", str(f))
    assert runs(hookdir, "on-add") == []
    (run,) = runs(hookdir, "post-import")
    head, *changes = run
    assert head["import"]["created"] == 30 and head["import"]["kind"] == "contacts"
    assert sum(1 for c in changes if c["table"] == "contacts") == 30
    assert head["changes"] == len(changes)
    crm("import", "contacts", str(f), "--dry-run")  # a dry run changes nothing: no hook
    assert len(runs(hookdir, "post-import")) == 1


@pytest.fixture
def campaign(crm, isolated):
    (isolated / "config" / "config.toml").write_text(
        '[campaign]\nfrom = "news@shop.example"\n'
        'unsubscribe_url = "https://shop.example/u/{token}"\n',
        encoding="utf-8",
    )
    for n in ("a", "b"):
        crm("contact", "add", n.upper(), "--email", f"{n}@example.com", "--tag", "x")
    crm("segment", "add", "x", "tag:x")
    tpl = isolated / "t.txt"
    tpl.write_text("Hi\n", encoding="utf-8")
    crm("campaign", "add", "spring", "--segment", "x", "--subject", "s", "--template", str(tpl))
    return isolated / "outbox"


def test_pre_send_vetoes_before_anything_happens(crm, hookdir, campaign):
    hook(hookdir, "pre-send.check", 'cat >> "$LOG"; echo "not on a Sunday" >&2; exit 1')
    err = crm.fails("campaign", "send", "spring", "--outbox", str(campaign), code=1).stderr
    assert "hook pre-send.check refused: not on a Sunday" in err
    (run,) = runs(hookdir, "pre-send.check")
    assert run[0]["campaign"]["name"] == "spring" and run[0]["to_send"] == 2
    assert run[0]["first_run"] is True and run[0]["via"].startswith("outbox ")
    status = crm.json("campaign", "status", "spring")
    assert (status["planned"], status["sent"], status["frozen_at"]) == (0, 0, None)
    assert not campaign.exists()  # refused before the outbox folder was made


def test_post_send_gets_the_result_and_the_ledger(crm, hookdir, campaign):
    hook(hookdir, "pre-send", "cat > /dev/null; exit 0")
    hook(hookdir, "post-send", RECORD)
    hook(hookdir, "on-modify", RECORD)
    crm("campaign", "send", "spring", "--outbox", str(campaign))
    (run,) = runs(hookdir, "post-send")
    head, *changes = run
    assert head["result"]["sent"] == 2 and head["set"]["undoable"] is False
    sent = [c for c in changes if c["table"] == "campaign_recipients" and c["op"] == "update"
            and c["after"]["state"] == "sent"]  # fmt: skip
    assert len(sent) == 2
    assert runs(hookdir, "on-modify") == []  # the ledger is the send's, not an edit


def test_a_failing_or_slow_hook_never_loses_the_change(crm, hookdir, isolated):
    hook(hookdir, "on-add.fail", 'cat > /dev/null; echo "webhook down" >&2; exit 3')
    hook(hookdir, "on-add.slow", "sleep 30")
    (isolated / "config" / "config.toml").write_text("[hooks]\ntimeout = 1\n", encoding="utf-8")
    result = crm("contact", "add", "Ann")
    assert result.exit_code == 0
    assert "hook on-add.fail exited 3: webhook down" in result.stderr
    assert "hook on-add.slow killed after 1 s" in result.stderr
    assert [c["name"] for c in crm.json("contact", "list")] == ["Ann"]


def test_not_executable_hooks_are_listed_not_run(crm, hookdir):
    hook(hookdir, "on-add", RECORD, executable=False)
    hook(hookdir, "notes.txt", "exit 1")  # not a hook name
    crm("contact", "add", "Ann")
    assert runs(hookdir, "on-add") == []
    listed = crm.json("hooks", "list")
    assert listed == [{"event": "on-add", "name": "on-add", "path": str(hookdir / "on-add"),
                       "executable": False}]  # fmt: skip
    assert "chmod +x" in crm("hooks", "list").stderr


def test_a_hook_may_run_crm_without_looping(crm, hookdir, isolated):
    import sys

    # The hook tags every new contact; that edit must not fire on-modify/on-add again.
    hook(hookdir, "on-add", f'cat > /dev/null; {sys.executable} -m crm_cli contact tag "$(echo 1)" new\n'
         f'echo ran >> "$LOG"')  # fmt: skip
    hook(hookdir, "on-modify", RECORD)
    crm("contact", "add", "Ann")
    assert (hookdir / "on-add.log").read_text().count("ran") == 1
    assert runs(hookdir, "on-modify") == []
    assert crm.json("contact", "show", "1")["tags"] == ["new"]


def test_hooks_test_runs_a_sample(crm, hookdir):
    hook(hookdir, "on-modify", 'read first; echo "$first" | cut -c1-40; cat > /dev/null')
    out = crm("hooks", "test", "on-modify").stdout
    assert out.startswith("on-modify: ok in")
    hook(hookdir, "pre-send", "exit 2")
    result = crm("hooks", "test", "pre-send", ok=False)
    assert result.exit_code == 1 and "exit 2" in result.stdout
    crm.fails("hooks", "test", "on-frobnicate", code=1)
    assert os.environ.get("CRM_IN_HOOK") is None
