"""Screenshots of the Evaluate screen with a finished evaluation: the table of metrics base vs
adapter with the difference, the answers, and the highlighted example in full.

What it shows is a real evaluation of a tiny-model run, saved in tests/tui/evaluate_fixture/ (its
README says how it was made); the test puts those files in a run folder of the same name, where
the screen reads them as it reads any saved evaluation, so the pictures are the same everywhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Select

from farense_tui.tui.app import create_app
from tests.tui.conftest import T0, fabricate_run, wait_until

FIXTURE = Path(__file__).parent / "evaluate_fixture"
RUN = "20261127-170320-tiny-llama"


@pytest.fixture
def evaluated_app():
    run_dir = fabricate_run(
        RUN,
        [{"type": "state", "time": T0, "state": "finished", "message": "finished"}],
        profile="cpu",
    )
    (run_dir / "best").mkdir()
    (
        run_dir / "best" / "adapters.safetensors"
    ).touch()  # listed by its file; the snapshots load no model
    shutil.copytree(FIXTURE, run_dir / "eval", ignore=shutil.ignore_patterns("README.md"))
    app = create_app(attach_live=False)
    app.fixture_run = run_dir
    return app


def show_result(row: int):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.press("5")
        screen = app.screen
        key = f"{app.fixture_run}:best"
        await wait_until(pilot, lambda: key in screen.targets, what="the run's adapter listed")
        screen.query_one("#target", Select).value = key
        await wait_until(pilot, lambda: screen.answers, what="the saved evaluation shown")
        answers = screen.query_one("#answers", DataTable)
        answers.focus()
        answers.move_cursor(row=row)
        await pilot.pause()

    return run_before


def test_evaluate_80x24(snap_compare, evaluated_app):
    """Evaluate at 80x24 with the saved evaluation of the tiny run's best adapter: the status line
    "last evaluated 2026-11-27T17:…; ctrl+s evaluates again"; the metrics table (its title the run,
    "best on test (6 examples, chat) · all examples") with exact match 0.000 / 0.167 / +0.167,
    token F1 and ROUGE-L 0.000 / 0.208 / +0.208, test loss 6.922 / 2.534 / -4.388 and perplexity;
    the adapter's 6 answers; the first example in full below (question, reference "Em 1910.",
    adapter "Os.", its scores); the key bar with ^s ^x ^o ^b."""
    assert snap_compare(evaluated_app, terminal_size=(80, 24), run_before=show_result(0))


def test_evaluate_120x40(snap_compare, evaluated_app):
    """The same at 120x40 with the cursor on example 4: "Quem foi Hassan Nader?", answered exactly
    as its reference "Um avançado marroquino do Farense." (exact match 1, token F1 1.000,
    ROUGE-L 1.000) in the full view below the answers."""
    assert snap_compare(evaluated_app, terminal_size=(120, 40), run_before=show_result(3))
