"""MetricHistory: what the Monitor draws, built from run events (plain Python, no Textual)."""

from __future__ import annotations

import math
from pathlib import Path

from farense_tui.engine.runs.history import MetricHistory, Series, downsample


def step(n: int, loss: float = 1.0, t: float | None = None, **fields) -> dict:
    return {
        "type": "step",
        "step": n,
        "total_steps": 100,
        "loss": loss,
        "learning_rate": 1e-4,
        "tokens_per_sec": 100.0 + n,
        "mem_active_gb": 1.0,
        "mem_peak_gb": 1.5 + n / 100,
        "mem_cache_gb": 0.1,
        "rss_gb": 0.8,
        "sys_used_gb": 6.0,
        "sys_available_gb": 10.0,
        "swap_used_gb": 0.0,
        "time": 1000.0 + n if t is None else t,
        **fields,
    }


def fresh() -> MetricHistory:
    history = MetricHistory()
    history.reset(Path("runs/x"), budget_gb=11.0, total_ram_gb=16.0)
    return history


def test_steps_fill_every_series():
    history = fresh()
    assert history.add_events([step(1, 2.0), step(2, 1.5), step(3, 1.2)])
    assert history.train_loss.xs == [1, 2, 3]
    assert history.train_loss.ys == [2.0, 1.5, 1.2]
    assert history.tokens_per_sec.ys == [101.0, 102.0, 103.0]
    assert history.memory["mem_peak_gb"].xs == [0.0, 1.0, 2.0]  # seconds since the first event
    assert history.memory["sys_used_gb"].ys == [6.0] * 3
    assert history.peak_memory_gb == 1.53
    assert history.last_step["step"] == 3
    assert history.swap_gb == 0.0


def test_evals_and_best():
    history = fresh()
    history.add_events(
        [
            step(1),
            {"type": "eval", "step": 1, "val_loss": 1.4, "time": 1001},
            step(2),
            {"type": "eval", "step": 2, "val_loss": 1.1, "time": 1002},
            step(3),
            {"type": "eval", "step": 3, "val_loss": 1.3, "time": 1003},
        ]
    )
    assert history.val_loss.xs == [1, 2, 3]
    assert history.best_val == (2, 1.1)


def test_version_moves_only_on_change():
    history = MetricHistory()
    v0 = history.version
    history.reset(None, None, 16.0)
    assert history.version == v0 + 1
    assert not history.add_events([])
    assert not history.add_events(
        [{"type": "checkpoint", "step": 4, "path": "x", "reason": "periodic"}]
    )
    assert history.version == v0 + 1
    assert history.add_events([step(1)])
    assert history.version == v0 + 2
    history.add_events([step(2), step(3)])  # one batch, one new version
    assert history.version == v0 + 3


def test_reset_forgets_the_old_run():
    history = fresh()
    history.add_events([step(1), step(2)])
    history.reset(Path("runs/y"), 4.0, 8.0)
    assert not history.train_loss and history.last_step is None and history.best_val is None
    assert (history.run_dir, history.budget_gb, history.total_ram_gb) == (Path("runs/y"), 4.0, 8.0)
    history.reset(None, None, 8.0)
    assert not history.has_run


def test_recovery_truncates_and_rerun_steps_win():
    history = fresh()
    history.add_events([step(n, 3.0 - n / 10) for n in range(1, 11)])
    history.add_events(
        [
            {"type": "eval", "step": 8, "val_loss": 2.5, "time": 1008},
            {"type": "eval", "step": 10, "val_loss": 0.1, "time": 1010},
        ]
    )
    history.add_events(
        [
            {
                "type": "recovery",
                "message": "out of memory: batch 2",
                "resume_step": 8,
                "from": {},
                "to": {},
                "time": 1011,
            }
        ]
    )
    assert history.train_loss.xs == list(range(1, 9))  # steps 9 and 10 will be re-run
    assert history.val_loss.xs == [8]  # the eval at the checkpoint stays, the later one goes
    assert history.best_val == (8, 2.5)
    assert [(r.step, r.message) for r in history.restarts] == [(8, "out of memory: batch 2")]
    history.add_events([step(9, 0.7, t=1012), step(10, 0.6, t=1013)])
    assert history.train_loss.xs[-3:] == [8, 9, 10]
    assert history.train_loss.ys[-2:] == [0.7, 0.6]  # the later values for 9 and 10
    assert len(history.restarts) == 1  # the re-run steps do not add a second marker
    assert len(history.memory["rss_gb"]) == 12  # memory is against time: it just goes on


def test_resume_without_recovery_event_is_seen_from_the_steps():
    history = fresh()
    history.add_events([step(n) for n in range(1, 7)])
    history.add_events([step(5, 0.5, t=2000), step(6, 0.4, t=2001)])
    assert history.train_loss.xs == [1, 2, 3, 4, 5, 6]
    assert history.train_loss.ys[-2:] == [0.5, 0.4]
    assert [r.step for r in history.restarts] == [4]


def test_non_finite_values_are_not_plotted():
    history = fresh()
    history.add_events([step(1, 1.0), step(2, float("nan")), step(3, float("inf"))])
    assert history.train_loss.xs == [1]
    assert history.last_step["step"] == 3  # the summary still shows the latest step
    assert math.isinf(history.last_step["loss"])


def test_series_stays_bounded():
    series = Series(max_points=100)
    for x in range(1000):
        series.add(x, float(x))
    assert len(series) <= 100
    assert series.xs[0] == 0 and series.xs[-1] == 999
    assert series.xs == sorted(series.xs)


def test_downsample_keeps_ends_and_extremes():
    xs = list(range(10_000))
    ys = [math.sin(x / 50) for x in xs]
    ys[5000] = 50.0  # a spike must survive
    dx, dy = downsample(xs, ys, 160)
    assert len(dx) <= 160
    assert dx[0] == 0 and dx[-1] == 9999
    assert 50.0 in dy
    assert dx == sorted(dx)
    assert downsample([1, 2], [3, 4], 160) == ([1, 2], [3, 4])
