"""The Training screen shows two tokens/s, each named for what it measures: the newest step's
(header and figures line) and the median step's over the run (cost line)."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Static

from farense_tui.engine.runs.folder import full_status
from farense_tui.tui.widgets.progress_panel import ProgressPanel
from tests.tui.conftest import fabricate_run, training_history


async def test_last_step_and_median_step_speeds_are_labelled():
    events = training_history(total=30, upto=6, recovery_at=None)
    steps = [e for e in events if e["type"] == "step"]
    for e, speed in zip(steps, (30.0, 31.0, 34.0, 34.0, 36.0, 58.0)):  # a fast newest step
        e["tokens_per_sec"] = speed
    status = full_status(fabricate_run("20260101-120000-tiny-llama", events))

    class Host(App):
        def compose(self):
            yield ProgressPanel(id="progress")

    async with Host().run_test() as pilot:
        pilot.app.query_one(ProgressPanel).show(status)
        await pilot.pause()
        figures = str(pilot.app.query_one("#figures", Static).render())
        cost = str(pilot.app.query_one("#cost", Static).render())
    assert "58 tok/s last step" in figures
    assert "34 tok/s median step" in cost
