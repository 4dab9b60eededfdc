"""Runs compared on the Monitor: the debiased EMA, curves built from events, colours, marking runs
on Training and seeing them in the overlay, and snapshots of a two-run overlay."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from farense_tui.engine.runs.history import MetricHistory
from farense_tui.engine.runs.overlay import Comparison, ema, load_history, on_axis
from farense_tui.tui.app import create_app
from farense_tui.tui.screens.monitor import MonitorScreen
from farense_tui.tui.widgets.compare_chart import CompareChart, log_ticks, short_labels
from tests.tui.conftest import T0, fabricate_run, step_event, training_history, wait_until
from tests.tui.host import CockpitHost


def test_ema_is_debiased_by_hand():
    # beta 0.5: s = 0.5, 1.25, 2.125; divided by 1 - 0.5^t = 0.5, 0.75, 0.875.
    assert ema([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert ema([2.0, 2.0, 2.0], 0.99) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0
    assert ema([1.0, 5.0], 0.0) == [1.0, 5.0]


def test_series_of_a_fabricated_run_on_every_axis():
    """An OOM recovery at step 10 (resume from its checkpoint): steps 1–18 once each; tokens and
    training seconds from the step events (3,100 tokens and 1.9 s a step)."""
    history = load_history(
        fabricate_run("20260101-120000-tiny-llama", training_history(total=30, upto=18))
    )
    assert history.train_loss.xs == list(range(1, 19))
    assert history.val_loss.xs == [0, 5, 10, 15]
    assert on_axis(history.val_loss.xs, "step", history) == [0, 5, 10, 15]
    assert on_axis(history.val_loss.xs, "tokens", history) == [0, 15500, 31000, 46500]
    assert on_axis([0, 5, 18], "time", history) == pytest.approx([0, 9.5, 34.2])


def test_a_rerun_step_does_not_count_its_time_twice():
    """A resume re-runs steps 3–4: the curve's training time is that of steps 1–4 once."""
    history = MetricHistory()
    history.reset(Path("/runs/x"), None, 0.0)
    history.add_events(
        [
            {"type": "step", "step": s, "loss": 1.0, "step_time": 2.0, "trained_tokens": 10 * s}
            for s in (1, 2, 3, 4, 3, 4)
        ]
    )
    assert history.seconds_at.ys == [2.0, 4.0, 6.0, 8.0]
    assert history.tokens_at.ys == [10, 20, 30, 40]


def test_colours_are_kept_and_differ_between_marked_runs():
    comparison = Comparison()
    runs = [Path(f"/runs/run-{i}") for i in range(8)]
    for run in runs:
        comparison.toggle(run)
    colours = [comparison.colour(r.name) for r in runs]
    assert len(set(colours)) == 8
    comparison.toggle(runs[0])
    comparison.toggle(runs[0])
    assert comparison.colour(runs[0].name) == colours[0]


def test_log_ticks_are_1_2_5():
    assert log_ticks(0.3, 3.2, 6) == [0.5, 1, 2]
    assert log_ticks(0.05, 30, 4) == [0.05, 0.5, 5]


def test_legend_names_shrink_to_fit():
    ids = ["20260101-120000-tiny-llama", "20251231-090000-tiny-llama"]
    assert short_labels(ids, 60) == ids
    assert short_labels(ids, 40) == ["20260101-120000", "20251231-090000"]
    assert short_labels(ids, 20) == ["0101-1200", "1231-0900"]


OLD = "20251231-090000-tiny-llama"
NEW = "20260101-120000-tiny-llama"


async def test_mark_two_runs_on_training_and_see_both_in_the_overlay(monkeypatch):
    """A marked run's new events are read when the overlay is shown again. Also: the Training
    screen's cost line of the active run, with money at the price set in
    FARENSE_PRICE_PER_HOUR."""
    monkeypatch.setenv("FARENSE_PRICE_PER_HOUR", "1.5")
    finished = training_history(total=12, upto=12, recovery_at=None) + [
        {"type": "state", "time": T0 + 80, "state": "finished", "message": "finished at step 12"}
    ]
    old, new = fabricate_run(OLD, finished), fabricate_run(NEW, training_history(total=30, upto=18))
    app = create_app(attach_live=False, detect_hardware=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        app.attach(old)  # finished (the other one would be offered a resume: it looks dead)
        table = app.screen.query_one("#runs")
        await wait_until(pilot, lambda: table.row_count == 2, what="runs table")
        cost = app.screen.query_one("#cost")
        await wait_until(pilot, lambda: "37,200 tokens" in str(cost.render()), what="cost line")
        assert str(cost.render()).endswith(f"{app.run_status.cost.wall_hours * 1.5:.2f} at 1.5/h")
        for row in (0, 1):
            table.move_cursor(row=row)
            await pilot.press("c")
        assert [p.name for p in app.comparison.marked] == [NEW, OLD]
        await wait_until(pilot, lambda: len(app.comparison.loaded) == 2, what="compared runs read")
        await pilot.press("3", "c")
        chart = app.screen.query_one(CompareChart)
        await wait_until(
            pilot,
            lambda: OLD in str(chart.border_subtitle) and NEW in str(chart.border_subtitle),
            what="both runs in the legend",
        )
        assert chart.series[f"{OLD} val"][0] == [0, 5, 10]
        assert set(app.comparison.colours) == {OLD, NEW}
        assert app.comparison.colour(OLD) != app.comparison.colour(NEW)
        await pilot.press("x")  # trained tokens
        await wait_until(
            pilot,
            lambda: chart.axis == "tokens" and chart.series[f"{OLD} val"][0] == [0, 15.5, 31],
            what="x axis in thousands of tokens",
        )
        # The marked run goes on elsewhere: read again when the overlay is shown next.
        with open(new / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(step_event(19, 30, T0 + 200, 1.4)) + "\n")
        await pilot.press("2", "3")
        await wait_until(
            pilot,
            lambda: app.comparison.loaded[new].train_loss.xs[-1] == 19,
            what="the new step read",
        )


def synthetic_run(run_id: str, steps: int, floor: float, rate: float, t0: float) -> MetricHistory:
    """A fixed noisy run: loss falling to `floor`, an evaluation every 50 steps."""
    history = MetricHistory()
    history.reset(Path(f"/runs/{run_id}"), 11.0, 16.0)
    events, t = [], t0
    for s in range(1, steps + 1):
        t += 2.0
        events.append(
            {
                "type": "step",
                "step": s,
                "total_steps": steps,
                "time": t,
                "step_time": 2.0,
                "trained_tokens": 4000 * s,
                "tokens_per_sec": 2000.0,
                "mem_peak_gb": 6.0,
                "loss": round(2.5 * math.exp(-s / rate) + floor + 0.15 * math.sin(s * 1.7), 4),
            }
        )
        if s % 50 == 0:
            events.append(
                {
                    "type": "eval",
                    "step": s,
                    "time": t,
                    "val_loss": round(2.4 * math.exp(-s / rate) + floor + 0.1, 4),
                }
            )
    history.add_events(events)
    return history


class CompareHost(CockpitHost):
    """Stands in for the app shell: the active run's history and one other run marked and loaded."""

    def __init__(self):
        super().__init__()
        self.history = synthetic_run("20260101-120000-tiny-llama", 300, 0.45, 80, 1000.0)
        self.comparison = Comparison(active=self.history.run_dir)
        other = synthetic_run("20251231-090000-tiny-llama", 240, 0.7, 50, 5000.0)
        self.comparison.toggle(other.run_dir)
        self.comparison.loaded_history(other.run_dir, other)

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen())


async def _compare(pilot) -> None:
    await pilot.press("c")
    await pilot.pause(0.3)


def test_snapshot_compare_80x24(snap_compare):
    """Two runs overlaid at 80x24: the top border "loss by step · EMA 0.6 · linear" with the train
    and val legend; each run's smoothed training loss in its colour over its raw curve in a faint
    shade, its validation losses as dots; the bottom border names both runs, the active one with ▸;
    the key bar shows v c r e l x."""
    assert snap_compare(CompareHost(), terminal_size=(80, 24), run_before=_compare)


def test_snapshot_compare_120x40(snap_compare):
    """The same overlay at 120x40: taller, more ticks on both axes."""
    assert snap_compare(CompareHost(), terminal_size=(120, 40), run_before=_compare)


async def test_the_active_run_alone_says_how_to_add_runs():
    """No run marked: the overlay shows the active run and how to mark others."""
    app = CompareHost()
    app.comparison = Comparison(active=app.history.run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await _compare(pilot)
        legend = str(app.screen.query_one(CompareChart).border_subtitle)
        assert "20260101-120000-tiny-llama" in legend and "c on Training marks runs" in legend


async def test_pick_runs_on_the_monitor_shares_the_marks_with_training():
    """r on the Monitor lists runs/ with checkboxes: the active run checked and fixed, a checked run
    joins the overlay, and Training's runs table shows the same mark, in the run's colour even on
    the cursor row."""
    from textual.widgets import SelectionList

    from farense_tui.tui.dialogs.run_picker import RunPicker
    from farense_tui.tui.widgets.runs_table import RunsTable

    finished = training_history(total=12, upto=12, recovery_at=None) + [
        {"type": "state", "time": T0 + 80, "state": "finished", "message": "finished at step 12"}
    ]
    old, new = fabricate_run(OLD, finished), fabricate_run(NEW, finished)
    app = create_app(attach_live=False, detect_hardware=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(new)
        await pilot.press("3", "r")
        picker = app.screen
        assert isinstance(picker, RunPicker)
        options = picker.query_one(SelectionList)
        await wait_until(pilot, lambda: options.option_count == 2, what="runs listed in the picker")
        assert (
            options.selected == [new] and options.get_option_at_index(0).disabled
        )  # the active run
        await pilot.press("down", "space")
        assert app.comparison.marked == [old]
        await pilot.press("escape")
        chart = app.screen.query_one(CompareChart)
        await wait_until(
            pilot, lambda: OLD in str(chart.border_subtitle), what="the picked run in the legend"
        )
        assert app.screen.view == "compare"

        await pilot.press("2")
        table = app.screen.query_one(RunsTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="runs table")
        table.move_cursor(row=table.get_row_index(str(old)))
        await pilot.pause()
        row = table.render_line(1 + table.cursor_row)  # line 0 is the header
        dot = next(s for s in row if s.text.strip() == "●")
        assert dot.style.color.triplet == app.comparison.colour(OLD)

        await pilot.press("3", "r")  # unmarked here, unmarked there
        options = app.screen.query_one(SelectionList)
        await wait_until(pilot, lambda: options.option_count == 2, what="runs listed again")
        assert options.selected == [new, old]
        await pilot.press("down", "space")
        assert app.comparison.marked == []
