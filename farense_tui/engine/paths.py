"""Where farense-tui keeps its files: profiles/, data/, models/ and runs/ under one home folder."""

from __future__ import annotations

import os
from pathlib import Path

from farense_tui.engine.processes import HOME_ENV

_CHECKOUT = Path(__file__).resolve().parents[2]


def home() -> Path:
    """FARENSE_HOME if set, else the current folder if it is a farense-tui home, else the
    checkout."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd()
    if (cwd / "profiles").is_dir() and (cwd / "runs").is_dir():
        return cwd
    return _CHECKOUT


def profiles_dir() -> Path:
    return home() / "profiles"


def data_dir() -> Path:
    return home() / "data"


def models_dir() -> Path:
    return home() / "models"


def runs_dir() -> Path:
    return home() / "runs"
