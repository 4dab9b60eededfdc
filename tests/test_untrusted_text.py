"""Untrusted text stays text: escapes and markup in run names are shown literally by the CLI, and a
name with `../` does not reach outside runs/ or profiles/."""

from __future__ import annotations

import shutil

import pytest

from farense_tui.cli.main import main
from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs.config import RunConfig

EVIL = "evil-\x1b[31m-[red]x-\x07"


def test_cli_runs_shows_a_name_with_escapes_literally(farense_home, tmp_path, capsys):
    runs.create_run(
        RunConfig(profile=load_profile("cpu"), model="m", data=str(tmp_path), run_id=EVIL)
    )
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "evil-\\x1b[31m-[red]x-\\x07" in out and "\x1b" not in out and "\x07" not in out


def test_dot_dot_names_stay_inside_runs_and_profiles(farense_home, tmp_path):
    outside = runs.create_run(
        RunConfig(profile=load_profile("cpu"), model="m", data=str(tmp_path)),
        runs_root=farense_home / "elsewhere",
    )
    with pytest.raises(UserError, match="no run"):
        runs.find_run(f"../elsewhere/{outside.name}")
    with pytest.raises(UserError, match="no '/'"):
        runs.create_run(
            RunConfig(profile=load_profile("cpu"), model="m", data=str(tmp_path), run_id="../out")
        )
    shutil.copy(farense_home / "profiles" / "cpu.toml", farense_home / "evil.toml")
    with pytest.raises(UserError, match="no profile named"):
        load_profile("../evil")
