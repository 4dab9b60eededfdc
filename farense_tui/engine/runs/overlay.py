"""Runs compared side by side as curves (the Monitor's overlay): which runs, their colours, their
curves, plain Python in the engine, so any view overlays them alike.

A compared run's curves are a `MetricHistory` fed the run's whole events.jsonl (read in a thread
worker, `load_history`), so the overlay and the live Monitor share one fold; the active run's own
history is used as is and keeps updating. The overlay smooths the training loss with an EMA
debiased as TensorBoard and W&B do, and draws it against step, trained tokens or training time.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.history import MetricHistory, Series
from farense_tui.engine.runs.run_folder import RunFolder

RGB = tuple[int, int, int]
PALETTE: tuple[RGB, ...] = (
    (80, 200, 230),
    (255, 160, 40),
    (110, 210, 110),
    (235, 90, 200),
    (230, 210, 80),
    (150, 130, 255),
    (240, 110, 90),
    (90, 220, 190),
)
"""Run colours, far enough apart to tell on a dark terminal."""

SMOOTHING = (0.0, 0.6, 0.9, 0.99)
"""EMA weights the smoothing key cycles through (0: the raw curve alone)."""

X_AXES = ("step", "tokens", "time")


def ema(ys: list[float], beta: float) -> list[float]:
    """Exponential moving average, debiased: s_t = β·s_{t-1} + (1-β)·y_t from s_0 = 0, shown as
    s_t / (1-β^t), so the first points are not pulled towards 0 (β = 0 returns the values)."""
    if beta <= 0:
        return list(ys)
    out, s, weight = [], 0.0, 1.0
    for y in ys:
        s = beta * s + (1 - beta) * y
        weight *= beta
        out.append(s / (1 - weight))
    return out


def on_axis(steps: list[float], axis: str, history: MetricHistory) -> list[float]:
    """Steps placed on the x axis `axis`: the step itself, or the run's trained tokens or training
    seconds at that step (interpolated between logged steps; 0 before the first step)."""
    if axis == "step":
        return list(steps)
    by_step = history.tokens_at if axis == "tokens" else history.seconds_at
    return [_at(by_step, s) for s in steps]


def _at(series: Series, step: float) -> float:
    xs, ys = series.xs, series.ys
    if not xs:
        return 0.0
    i = bisect.bisect_left(xs, step)
    if i < len(xs) and xs[i] == step:
        return ys[i]
    if i == 0:  # before the first step (the evaluation at step 0): nothing trained yet
        return ys[0] * step / xs[0] if xs[0] > 0 else 0.0
    if i == len(xs):
        return ys[-1]
    (x0, y0), (x1, y1) = (xs[i - 1], ys[i - 1]), (xs[i], ys[i])
    return y0 + (y1 - y0) * (step - x0) / (x1 - x0)


def load_history(run_dir: Path) -> MetricHistory:
    """A run's curves from its whole events.jsonl (a thread worker calls this)."""
    history = MetricHistory()
    history.reset(run_dir, None, 0.0)
    history.add_events(read_all(RunFolder(run_dir).events))
    return history


def events_size(run_dir: Path) -> int:
    try:
        return RunFolder(run_dir).events.stat().st_size
    except OSError:
        return 0


@dataclass
class Comparison:
    """The runs marked for comparison, each with a colour kept for the whole session, and the
    curves of those loaded so far; `version` changes with every change (the Monitor replots)."""

    marked: list[Path] = field(default_factory=list)
    active: Path | None = None
    """The active run: always in the overlay (from the App's live history), marked or not."""
    loaded: dict[Path, MetricHistory] = field(default_factory=dict)
    colours: dict[str, RGB] = field(default_factory=dict)
    sizes: dict[Path, int] = field(default_factory=dict)  # events.jsonl's size when it was read
    version: int = 0

    def toggle(self, run_dir: Path) -> bool:
        """Mark or unmark a run; True when it is marked now (and its curves must be loaded)."""
        self.version += 1
        if run_dir in self.marked:
            self.marked.remove(run_dir)
            self.loaded.pop(run_dir, None)
            return False
        self.marked.append(run_dir)
        self.colour(run_dir.name)
        return True

    def overlay(self, active: MetricHistory) -> list[tuple[str, MetricHistory]]:
        """(run id, curves) of every run in the overlay: the active run first, live, then the
        marked runs whose curves are loaded, in the order they were marked."""
        runs = [(active.run_dir.name, active)] if active.run_dir is not None else []
        runs += [
            (p.name, self.loaded[p])
            for p in self.marked
            if p in self.loaded and p != active.run_dir
        ]
        return runs

    def loaded_history(self, run_dir: Path, history: MetricHistory, size: int = 0) -> None:
        if run_dir in self.marked:
            self.loaded[run_dir] = history
            self.sizes[run_dir] = size
            self.version += 1

    def stale(self) -> list[Path]:
        """Marked runs (not the active one, which is live) whose events grew since they were read:
        a run training in the background, or one resumed since."""
        return [
            p
            for p in self.marked
            if p in self.loaded and p != self.active and events_size(p) != self.sizes.get(p)
        ]

    def colour(self, run_id: str) -> RGB:
        """The run's colour: the same for the whole session; first choice from its name, so it is
        usually the same in the next session too, else the first one no marked run has."""
        if run_id not in self.colours:
            others = [*self.marked, *([self.active] if self.active else [])]
            taken = {self.colours.get(p.name) for p in others if p.name != run_id}
            first = zlib.crc32(run_id.encode()) % len(PALETTE)
            order = PALETTE[first:] + PALETTE[:first]
            self.colours[run_id] = next((c for c in order if c not in taken), order[0])
        return self.colours[run_id]
