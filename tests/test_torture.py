"""The crash and concurrency campaign's fixed-seed sample (bench/torture.py runs it all):
kills of real import, merge, undo and campaign-send processes, a writer + cron + import
running together, and hostile strings through the commands."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "torture.py"


@pytest.fixture(scope="module")
def torture():
    spec = importlib.util.spec_from_file_location("torture", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["torture"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_kills_leave_a_sound_database_and_resume(torture, tmp_path, capsys):
    st = torture.campaign(kills=3, size=600, send_size=30, seconds=0, examples=0, seed=9,
                          keep=str(tmp_path / "work"))  # fmt: skip
    assert st.errors == 0, st.failures
    assert st.kills == 12 and st.mid >= 6, (st.kills, st.mid)
    assert st.checks == 28  # crm db check after every kill and every finished run


def test_writer_cron_and_import_together(torture, tmp_path):
    st = torture.campaign(kills=0, size=0, send_size=0, seconds=4, examples=0, seed=9,
                          kinds=(), keep=str(tmp_path / "work"))  # fmt: skip
    assert st.errors == 0, st.failures
    assert st.records > 0


def test_hostile_strings(torture, tmp_path):
    st = torture.campaign(kills=0, size=0, send_size=0, seconds=0, examples=20, seed=9,
                          kinds=(), keep=str(tmp_path / "work"))  # fmt: skip
    assert st.errors == 0, st.failures
    assert st.runs > 100
