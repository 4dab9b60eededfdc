"""Screenshots of the Training screen with a run in progress that recovered from an out-of-memory.

The run's events are fabricated with fixed times, the run is made "alive" and the clock fixed, so
the pictures are the same on every machine.
"""

from __future__ import annotations

import dataclasses

import pytest

from farense_tui.engine import runs
from farense_tui.engine.runs import folder
from farense_tui.engine.runs import status as run_status
from farense_tui.tui.app import create_app
from tests.tui.conftest import T0, fabricate_run, training_history, wait_until

ACTIVE = "20260101-120000-tiny-llama"
OLDER = "20251231-090000-tiny-llama"


@pytest.fixture
def training_app(monkeypatch):
    older = fabricate_run(
        OLDER,
        training_history(total=12, upto=12, recovery_at=None)
        + [
            {
                "type": "finished",
                "time": T0 + 80,
                "step": 12,
                "final_adapter": "final",
                "best_adapter": "best",
                "best_val_loss": 2.4,
            },
            {
                "type": "state",
                "time": T0 + 80,
                "state": "finished",
                "message": "finished at step 12",
            },
        ],
    )
    active = fabricate_run(ACTIVE, training_history(total=30, upto=18, recovery_at=10))
    monkeypatch.setattr(folder, "is_alive", lambda run_dir: run_dir.name == ACTIVE)
    monkeypatch.setattr(run_status, "clock", lambda: T0 + 70.0)
    created = {ACTIVE: T0, OLDER: T0 - 97200}
    real_list = runs.list_runs
    monkeypatch.setattr(
        runs,
        "list_runs",
        lambda root=None: [
            dataclasses.replace(r, created=created[r.run_id]) for r in real_list(root)
        ],
    )
    app = create_app(attach_live=False)
    app.fixture_runs = (active, older)
    return app


async def show_training(pilot) -> None:
    app = pilot.app
    active, _ = app.fixture_runs
    await pilot.press("2")
    app.attach(active)
    await wait_until(
        pilot, lambda: app.run_status.step == 18 and app.run_status.alive, what="run history"
    )
    screen = app.screen
    await wait_until(pilot, lambda: screen.query_one("#runs").row_count == 2, what="runs table")
    # The run under the cursor marked for the Monitor (as c does, without its toast): a dot in its
    # colour.
    app.comparison.toggle(active)
    table = screen.query_one("#runs")
    table.show_runs(list(table.infos.values()), screen.marks())
    await pilot.pause()


def test_training_80x24(snap_compare, training_app):
    """Training at 80x24 during a run that recovered from an out-of-memory.

    Visible: the mode bar (2 Training highlighted), the header line with the run id, "training",
    step 18/30, loss and an ETA; the yellow banner "Restarted from step 10: … out of memory … batch
    4→2, accumulation 2→4"; the progress bar at 60% with epoch, elapsed and ETA; loss, val (best),
    lr and "812 tok/s last step"; the cost line (wall hours, 55,800 tokens, "812 tok/s median step",
    peak 6.20 GB; no money without a price); the event log ending with the latest evaluation and
    checkpoint; the runs table with the training run and an older finished one; the cursor on the
    training run, which is marked for comparison: its dot and its green "training" keep their
    colours under the cursor; the key bar with p s w m a r c x q.
    """
    assert snap_compare(training_app, terminal_size=(80, 24), run_before=show_training)


def test_training_120x40(snap_compare, training_app):
    """Training at 120x40: as at 80x24, wider and taller: the header adds the best validation
    loss and tok/s, the whole event log since loading is visible (error, recovery, evaluations,
    checkpoints), and the runs table shows every column (profile, created)."""
    assert snap_compare(training_app, terminal_size=(120, 40), run_before=show_training)
