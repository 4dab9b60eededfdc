"""Hermetic tests: every test gets its own farense home (profiles copied, empty models/ and
runs/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def farense_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir(parents=True)
    monkeypatch.setenv("FARENSE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from tests import tiny_model

    return tiny_model.build(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture
def tiny_data(farense_home) -> Path:
    from tests import tiny_model

    return tiny_model.write_data(farense_home / "data" / "tiny")
