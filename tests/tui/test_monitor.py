"""Monitor screen in a tiny host App: charts fed from a MetricHistory, throttled replots,
snapshots."""

from __future__ import annotations

import math
from pathlib import Path

from textual.app import App
from textual.screen import Screen

from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.history import MetricHistory
from farense_tui.tui.screens.monitor import EMPTY_TEXT, MonitorScreen
from farense_tui.tui.widgets.charts import (
    LossChart,
    MemoryChart,
    SpeedChart,
    nice_ticks,
    tick_label,
)
from tests.engine_helpers import losses, start_run, tiny_config, wait_done
from tests.tui.host import CockpitHost

RUN = Path("/runs/20250101-120000-mistral-7b-4bit")


def synthetic_events(steps: int = 300, recovery_at: int | None = 150) -> list[dict]:
    """A fixed, smooth run: loss falling, evals every 50 steps, and at `recovery_at` an OOM
    recovery back to the checkpoint 20 steps earlier, after which those steps are re-run."""
    events, t = [{"type": "state", "state": "training", "message": "", "time": 1000.0}], 1000.0
    order = list(range(1, steps + 1))
    if recovery_at:
        order = list(range(1, recovery_at + 1)) + list(range(recovery_at - 19, steps + 1))
    done = set()
    for s in order:
        t += 2.0
        rerun = s in done
        done.add(s)
        events.append(
            {
                "type": "step",
                "step": s,
                "total_steps": 318,
                "epoch": 1,
                "loss": round(
                    2.5 * math.exp(-s / 80) + 0.4 + 0.08 * math.sin(s / 3) - (0.1 if rerun else 0),
                    4,
                ),
                "learning_rate": 2e-4,
                "tokens_per_sec": round(180 + 20 * math.sin(s / 10), 1),
                "mem_active_gb": round(4.1 + 0.3 * math.sin(s / 7), 3),
                "mem_peak_gb": round(6.2 + s / 300, 3),
                "mem_cache_gb": 0.5,
                "rss_gb": 1.2,
                "sys_used_gb": round(9.5 + math.sin(s / 20), 3),
                "sys_available_gb": 6.0,
                "swap_used_gb": 0.0,
                "time": t,
            }
        )
        if s % 50 == 0:
            events.append(
                {
                    "type": "eval",
                    "step": s,
                    "val_loss": round(2.4 * math.exp(-s / 90) + 0.6, 4),
                    "best_val_loss": 0.0,
                    "is_best": True,
                    "time": t,
                }
            )
        if s == recovery_at and not rerun:
            events.append(
                {
                    "type": "recovery",
                    "message": "out of memory: batch 4 → 2",
                    "resume_step": s - 20,
                    "from": {},
                    "to": {},
                    "time": t,
                }
            )
    return events


def synthetic_history(**kwargs) -> MetricHistory:
    history = MetricHistory()
    history.reset(RUN, budget_gb=11.0, total_ram_gb=16.0)
    history.add_events(synthetic_events(**kwargs))
    return history


class Host(CockpitHost):
    """Stands in for the app shell: owns `history` and shows the Monitor."""

    TITLE = "farense-tui"

    def __init__(self, history: MetricHistory | None = None, refresh_hz: float = 4.0):
        super().__init__()
        self.history = history if history is not None else MetricHistory()
        self.refresh_hz = refresh_hz

    def on_mount(self) -> None:
        self.push_screen(MonitorScreen(refresh_hz=self.refresh_hz))


def charts(app: App) -> tuple[LossChart, MemoryChart, SpeedChart]:
    screen = app.screen
    return screen.query_one(LossChart), screen.query_one(MemoryChart), screen.query_one(SpeedChart)


async def test_total_ram_line_is_only_drawn_when_the_curves_come_near_it():
    """A 1 GB run on a 64 GB machine: the RAM line would flatten every curve; the legend names
    it."""
    history = MetricHistory()
    history.reset(Path("/runs/x"), budget_gb=2.0, total_ram_gb=64.0)
    history.add_events(
        [
            {
                "type": "step",
                "time": 10.0 + i,
                "step": i,
                "loss": 2.0,
                "tokens_per_sec": 50.0,
                "mem_active_gb": 0.8,
                "mem_peak_gb": 1.0,
                "rss_gb": 1.1,
                "sys_used_gb": 9.0,
            }
            for i in range(1, 20)
        ]
    )
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        _, memory, _ = charts(app)
        assert memory.markers == {"budget": 2.0}
        assert "RAM 64 (off scale)" in str(memory.border_title)


async def test_charts_receive_downsampled_points():
    history = synthetic_history()
    app = Host(history)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        loss, memory, speed = charts(app)
        train_x, train_y = loss.series["train"]
        assert train_x[0] == 1 and train_x[-1] == 300
        assert len(train_x) <= 2 * loss.size.width
        assert train_y[-1] == history.train_loss.ys[-1]
        assert loss.series["val"][0] == [50, 100, 150, 200, 250, 300]
        assert loss.markers == {"restart 1": 130}
        assert loss.plt.monitor.x  # plotext itself holds the data
        assert set(memory.series) == {"MLX active", "MLX peak", "process RSS", "system used"}
        assert memory.markers == {"RAM": 16.0, "budget": 11.0}
        assert memory.x_unit == "min" and memory.series["MLX peak"][0][-1] == 2 * 320 / 60
        assert speed.series["tokens/s"][0][-1] == 300
        summary = str(app.screen.query_one("#summary").render())
        assert (
            "step 300/318" in summary
            and "best val" in summary
            and "/11 GB" in summary
            and "↻1" in summary
        )


async def test_replots_only_on_new_data_and_at_most_once_a_tick():
    history = MetricHistory()
    history.reset(RUN, 11.0, 16.0)
    app = Host(history, refresh_hz=4)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.4)
        screen = app.screen
        loss = screen.query_one(LossChart)
        before, draws = screen.redraws, loss.draw_count
        for batch in range(50):  # 50 versions between two ticks: one replot
            history.add_events(
                [e for e in synthetic_events(batch + 1, None) if e["type"] == "step"][-1:]
            )
        await pilot.pause(0.6)
        assert 1 <= screen.redraws - before <= 3
        assert loss.series["train"][0][-1] == 50
        idle = screen.redraws
        await pilot.pause(0.8)  # nothing new: no replot, no plotext build
        assert screen.redraws == idle
        assert loss.draw_count - draws == screen.redraws - before


async def test_empty_state_until_a_run_is_attached():
    history = MetricHistory()
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        screen = app.screen
        assert (
            screen.query_one("#empty").display
            and str(screen.query_one("#empty").render()) == EMPTY_TEXT
        )
        assert not screen.query_one("#charts").display
        history.reset(RUN, 11.0, 16.0)
        history.add_events(synthetic_events(steps=10, recovery_at=None))
        await pilot.pause(0.5)
        assert screen.query_one("#charts").display and not screen.query_one("#empty").display
        assert screen.query_one(LossChart).series["train"][0][-1] == 10


async def test_hidden_monitor_does_not_replot():
    history = synthetic_history(steps=20, recovery_at=None)
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        monitor = app.screen
        await app.push_screen(Screen())
        redraws = monitor.redraws
        history.add_events(synthetic_events(steps=40, recovery_at=None)[-5:])
        await pilot.pause(0.6)
        assert monitor.redraws == redraws
        app.pop_screen()
        await pilot.pause(0.3)
        assert monitor.redraws == redraws + 1
        assert monitor.query_one(LossChart).series["train"][0][-1] == 40


async def test_repaints_reuse_the_drawing_until_the_next_replot():
    """A repaint (a screen switch, a toast) must not rebuild a plot: only new data does."""
    history = synthetic_history(steps=20, recovery_at=None)
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        loss = app.screen.query_one(LossChart)
        builds = []
        real_build = loss.plt.build
        loss.plt.build = lambda: builds.append(1) or real_build()
        for _ in range(3):
            loss.refresh()
            await pilot.pause(0.05)
        assert builds == []
        history.add_events(synthetic_events(steps=25, recovery_at=None)[-5:])
        await pilot.pause(0.6)
        assert len(builds) == 1


async def test_view_key_cycles_through_single_charts():
    app = Host(synthetic_history())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        loss, memory, speed = charts(app)
        shown = lambda: [c.id for c in (loss, memory, speed) if c.display and c.parent.display]  # noqa: E731
        assert shown() == ["loss", "memory", "speed"]
        for expected in (["loss"], ["memory"], ["speed"], ["loss", "memory", "speed"]):
            await pilot.press("v")
            await pilot.pause(0.1)
            assert shown() == expected
        assert loss.size.height > 8


def test_ticks_are_round_numbers():
    assert nice_ticks(1, 300, 4) == [100, 200, 300]
    assert nice_ticks(0, 17, 3) == [0, 10]
    ticks = nice_ticks(0.4, 0.42, 4)
    assert [tick_label(t, ticks) for t in ticks] == ["0.40", "0.41", "0.42"]


async def test_monitor_draws_a_real_tiny_run(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data))
    wait_done(run_dir)
    history = MetricHistory()
    history.reset(run_dir, budget_gb=0.5, total_ram_gb=16.0)
    history.add_events(read_all(run_dir / "events.jsonl"))
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        loss, memory, speed = charts(app)
        by_step = losses(run_dir)
        assert loss.series["train"] == (list(by_step), list(by_step.values()))
        assert loss.series["val"][0] == [
            e["step"] for e in read_all(run_dir / "events.jsonl") if e["type"] == "eval"
        ]
        assert all(v > 0 for v in memory.series["process RSS"][1])
        assert speed.series["tokens/s"][0]
        assert history.state == "finished"
        assert str(app.screen.query_one("#summary").render()).startswith("step 12/12  loss ")


def test_snapshot_80x24(snap_compare):
    """Monitor of a fixed 300-step run at 80x24: loss chart on top (train line, orange val dots,
    red restart line at step 130), memory (RAM 16 and budget 11 lines) and tokens/s side by side
    below, and the summary
    "step 300/318  loss …  best val 0.686 @300  peak 7.2/11 GB  swap 0.0 GB  ↻1";
    the key bar: v View, c Compare, r Runs, q Quit."""
    assert snap_compare(Host(synthetic_history()), terminal_size=(80, 24), run_before=_settle)


def test_snapshot_120x40(snap_compare):
    """Same run at 120x40: the three charts larger with more ticks, same summary line."""
    assert snap_compare(Host(synthetic_history()), terminal_size=(120, 40), run_before=_settle)


def test_snapshot_empty(snap_compare):
    """No run attached: only the centred hint to start one on Config or attach on Training."""
    assert snap_compare(Host(MetricHistory()), terminal_size=(80, 24), run_before=_settle)


async def _settle(pilot) -> None:
    await pilot.pause(0.3)
