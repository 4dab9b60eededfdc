"""The Monitor's comparison: the loss and validation loss of several runs on one chart.

Each run has its colour (`Comparison.colour`, the same in the runs table); the training loss is
drawn smoothed (debiased EMA) over its raw curve in a faint shade of the same colour, validation
losses as dots joined by a dotted line. The top border says the axis and settings, the bottom
border names the runs. A log scale is drawn as log10 of the values with ticks labelled in loss.
"""

from __future__ import annotations

import math

from textual.color import Color

from farense_tui.engine.runs.history import MetricHistory, downsample
from farense_tui.engine.runs.overlay import Comparison, ema, on_axis
from farense_tui.tui.widgets.charts import (
    RGB,
    MetricChart,
    nice_ticks,
    swatch,
    tick_label,
    time_unit,
)

FAINT = 0.35  # share of the run's colour in its raw curve (the rest is the chart's background)
AXIS_TITLE = {"step": "step", "tokens": "trained tokens", "time": "training time"}
NEUTRAL: RGB = (200, 200, 200)  # the legend's train and val marks, which stand for every run


class CompareChart(MetricChart):
    """Loss and validation loss of the active run and the marked runs; settings set by the
    screen."""

    DEFAULT_CSS = """
    CompareChart {
        border-bottom: solid $panel-lighten-2;
        border-subtitle-align: left;
        border-subtitle-color: $text;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.comparison = Comparison()
        self.smoothing = 0.6
        self.log_scale = False
        self.axis = "step"
        self._drawn: tuple[MetricHistory, object] | None = None  # (history, size) of the last draw
        self._smoothed: dict[
            int, tuple[MetricHistory, tuple, list[float]]
        ] = {}  # id -> (it, what, EMA)

    def on_resize(self) -> None:
        # Shown by a view switch, this chart may be drawn before its layout: ticks, points and
        # legend follow its size, so it draws again once it has one.
        if self._drawn is not None and self._drawn[1] != self.size:
            self.draw(self._drawn[0])

    def plot(self, history: MetricHistory, points: int) -> None:
        self._drawn = (history, self.size)
        runs = self.comparison.overlay(history)
        self._smoothed = {k: v for k, v in self._smoothed.items() if k in {id(h) for _, h in runs}}
        unit, divisor = self._x_scale(runs)  # said in the title: a last tick's unit may not fit
        to_y = (lambda ys: [math.log10(y) for y in ys if y > 0]) if self.log_scale else list
        background = Color.parse(self.app.theme_variables.get("surface", "#1e1e1e")).rgb
        for run_id, h in runs:
            colour = self.comparison.colour(run_id)
            xs, ys = h.train_loss.xs, h.train_loss.ys
            if self.log_scale:
                xs, ys = zip(*[(x, y) for x, y in zip(xs, ys) if y > 0]) if ys else ([], [])
            x_at = lambda steps: [x / divisor for x in on_axis(steps, self.axis, h)]  # noqa: E731
            if self.smoothing > 0:
                raw_x, raw_y = _downsampled(xs, ys, points)
                self._line(f"{run_id} raw", x_at(raw_x), to_y(raw_y), _blend(colour, background))
            smooth_x, smooth_y = _downsampled(xs, self._ema(h, ys), points)
            self._line(f"{run_id} train", x_at(smooth_x), to_y(smooth_y), colour)
            vx, vy = h.val_loss.downsample(points)
            if self.log_scale:
                vx, vy = [x for x, y in zip(vx, vy) if y > 0], [y for y in vy if y > 0]
            vx, vy = x_at(vx), to_y(vy)
            self.series[f"{run_id} val"] = (vx, vy)
            if vx:
                self.plt.plot(vx, vy, marker="·", color=colour)
                self.plt.scatter(vx, vy, marker="●", color=colour)
        smooth = f"EMA {self.smoothing:g}" if self.smoothing else "raw"
        axis = f"{AXIS_TITLE[self.axis]} ({unit})" if unit else AXIS_TITLE[self.axis]
        self.border_title = (
            f"loss by {axis} · {smooth} · {'log' if self.log_scale else 'linear'}"
            f"  {swatch(NEUTRAL, 'train')}  {swatch(NEUTRAL, 'val', '●')}"
        )
        active = history.run_dir.name if history.run_dir else None
        ids = [run_id for run_id, _ in runs]
        labels = short_labels(ids, self.size.width - 2 - 3 * len(ids))
        self.border_subtitle = "  ".join(
            swatch(self.comparison.colour(run_id), ("▸" if run_id == active else "") + label)
            for run_id, label in zip(ids, labels)
        )
        if len(ids) == 1:
            self.border_subtitle += "  (c on Training marks runs to compare)"

    def _ema(self, history: MetricHistory, ys) -> list[float]:
        """The EMA of a run's training loss, computed again only when the run or a setting changed
        (10 ms for 20,000 points: a marked run that is not training costs it once)."""
        what = (history.version, self.smoothing, self.log_scale)
        cached = self._smoothed.get(id(history))
        if cached is None or cached[0] is not history or cached[1] != what:
            cached = self._smoothed[id(history)] = (history, what, ema(list(ys), self.smoothing))
        return cached[2]

    def _x_scale(self, runs: list[tuple[str, MetricHistory]]) -> tuple[str, float]:
        """The unit of the x axis and what divides it: minutes or hours of training, k or M
        tokens."""
        if self.axis == "step":
            return "", 1.0
        by = "tokens_at" if self.axis == "tokens" else "seconds_at"
        span = max((getattr(h, by).ys[-1] for _, h in runs if getattr(h, by)), default=0.0)
        if self.axis == "time":
            return time_unit(span)
        return (
            ("millions", 1e6) if span >= 2e6 else ("thousands", 1e3) if span >= 2e3 else ("", 1.0)
        )

    def _set_ticks(self) -> None:
        super()._set_ticks()
        if not self.log_scale:
            return
        ys = [y for _, values in self.series.values() for y in values]
        if not ys:
            return
        lo, hi = min(ys), max(ys)
        ticks = log_ticks(10**lo, 10**hi, max(3, (max(self.size.height, 6) - 3) // 2 + 2))
        self.plt.yticks([math.log10(t) for t in ticks], [tick_label(t, ticks) for t in ticks])


def short_labels(run_ids: list[str], room: int) -> list[str]:
    """Run ids as short as the legend's room needs: whole; without the part all share (the model
    in "20260101-120000-tiny-llama"); then month, day, hour and minute ("0101-1200")."""
    if sum(map(len, run_ids)) <= room or len(run_ids) < 2:
        return list(run_ids)
    parts = [r.split("-") for r in run_ids]
    shared = 0
    while (
        all(len(p) > shared + 1 for p in parts)
        and len({tuple(p[-shared - 1 :]) for p in parts}) == 1
    ):
        shared += 1
    labels = ["-".join(p[: len(p) - shared]) for p in parts]
    if sum(map(len, labels)) <= room:
        return labels
    return [
        f"{p[0][4:8]}-{p[1][:4]}" if len(p) > 1 and p[0].isdigit() and len(p[0]) == 8 else label
        for p, label in zip(parts, labels)
    ]


def log_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Ticks for a log axis: 1, 2, 5 times powers of ten in [lo, hi], thinned to at most `count`;
    round linear ticks when the range is under one such step."""
    ticks = [
        m * 10**e
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
        if lo <= m * 10**e <= hi
    ]
    if len(ticks) < 2:
        return [t for t in nice_ticks(lo, hi, count) if t > 0]
    stride = math.ceil(len(ticks) / count)
    return ticks[::stride]


def _downsampled(xs, ys, points: int) -> tuple[list[float], list[float]]:
    return downsample(list(xs), list(ys), points)


def _blend(colour: RGB, background: tuple[int, int, int]) -> RGB:
    # type: ignore[return-value]
    return tuple(round(FAINT * c + (1 - FAINT) * b) for c, b in zip(colour, background))
