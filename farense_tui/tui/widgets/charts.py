"""The Monitor's charts: plotext plots that replot from a `MetricHistory` when asked.

Each chart's legend is its border title (coloured text in one row, readable at 80x24 where a
plotext legend box would hide the data). `draw()` clears only the data (`clear_data`, which
keeps plot settings), plots downsampled series with round-number ticks and refreshes this widget
alone; the drawing is built once per `draw()` (or size or theme) and reused by every repaint in
between. What was plotted is kept in `series` (label -> (xs, ys)) and `markers` (line name ->
coordinate) so tests can read it without parsing the drawing.
"""

from __future__ import annotations

import math

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from farense_tui.engine.runs.history import MEMORY_FIELDS, MetricHistory

RGB = tuple[int, int, int]
TRAIN: RGB = (80, 200, 230)
VAL: RGB = (255, 160, 40)
RESTART: RGB = (235, 70, 70)
MEMORY_COLORS: dict[str, RGB] = {
    "mem_active_gb": (80, 200, 230),
    "mem_peak_gb": (200, 110, 230),
    "rss_gb": (110, 210, 110),
    "sys_used_gb": (230, 210, 80),
}
MEMORY_SHORT = {
    "mem_active_gb": "active",
    "mem_peak_gb": "peak",
    "rss_gb": "RSS",
    "sys_used_gb": "sys",
}
RAM: RGB = (170, 170, 170)
BUDGET: RGB = (235, 70, 70)


def swatch(color: RGB, text: str, mark: str = "━") -> str:
    """Legend entry in Textual markup: a coloured mark and its name."""
    return f"[rgb{color}]{mark}[/]{text}"


class MetricChart(PlotextPlot):
    """Base of the Monitor charts: a plot that redraws from the history on request.

    Each chart defines `plot(history, points)`, drawing its series with at most `points` points.
    """

    DEFAULT_CSS = """
    MetricChart {
        border-top: solid $panel-lighten-2;
        border-title-align: left;
        border-title-color: $text;
    }
    """
    TITLE = ""
    x_unit = ""
    """Appended to the last x tick label ("10 min")."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.markers: dict[str, float] = {}
        self.draw_count = 0
        self.border_title = self.TITLE
        self._drawing: RenderResult | None = None
        self._drawn_for: tuple | None = None

    def target_points(self) -> int:
        """About twice the chart's width (braille puts two dots in a cell); 160 before layout."""
        return 2 * self.size.width if self.size.width > 0 else 160

    def draw(self, history: MetricHistory) -> None:
        self.plt.clear_data()
        self.series, self.markers = {}, {}
        self.plot(history, self.target_points())
        self._set_ticks()
        self.draw_count += 1
        self._drawing = None
        self.refresh()

    def render(self) -> RenderResult:
        # PlotextPlot builds the plot and parses its ANSI text at every repaint (a screen switch,
        # a toast, a restyle): tens of ms on the UI thread for a drawing that only changes with
        # the data, the size or the theme.
        drawn_for = (self.size, self.app.theme, self.theme)
        if self._drawing is None or drawn_for != self._drawn_for:
            self._drawing, self._drawn_for = super().render(), drawn_for
        return self._drawing

    def y_floor(self) -> float | None:
        """A lower end the y axis always shows (0 for memory and speed); None to fit the data."""
        return None

    def _line(self, label: str, xs: list[float], ys: list[float], color: RGB) -> None:
        self.series[label] = (xs, ys)
        if xs:
            self.plt.plot(xs, ys, marker="braille", color=color)

    def _set_ticks(self) -> None:
        """Round-number ticks and limits from what was plotted, as many as the size allows."""
        xs = [x for values, _ in self.series.values() for x in values]
        ys = [y for _, values in self.series.values() for y in values] + list(self._y_markers())
        if not xs:
            return
        width, height = max(self.size.width, 20), max(self.size.height, 6)
        x_lo, x_hi = min(xs), max(xs)
        x_ticks = nice_ticks(x_lo, x_hi, width // 10)
        self.plt.xlim(x_lo, x_hi if x_hi > x_lo else x_lo + 1)
        x_labels = [tick_label(t, x_ticks) for t in x_ticks]
        if self.x_unit and x_labels:
            x_labels[-1] += f" {self.x_unit}"
        self.plt.xticks(x_ticks, x_labels)
        floor = self.y_floor()
        y_lo = floor if floor is not None else min(ys)
        y_hi = max(ys)
        pad = (y_hi - y_lo) * 0.06 or abs(y_hi) * 0.1 or 1.0
        y_lo, y_hi = (y_lo if floor is not None else y_lo - pad), y_hi + pad
        y_ticks = nice_ticks(y_lo, y_hi, max(3, (height - 3) // 2 + 2))
        self.plt.ylim(y_lo, y_hi)
        self.plt.yticks(y_ticks, [tick_label(t, y_ticks) for t in y_ticks])

    def _y_markers(self) -> list[float]:
        return []


class LossChart(MetricChart):
    """Train loss and validation loss against step; a red line where training restarted."""

    TITLE = (
        f"loss by step  {swatch(TRAIN, 'train')}  {swatch(VAL, 'val')}  "
        f"{swatch(RESTART, 'restart', '│')}"
    )

    def plot(self, history: MetricHistory, points: int) -> None:
        self._line("train", *history.train_loss.downsample(points), TRAIN)
        vx, vy = history.val_loss.downsample(points)
        self._line("val", vx, vy, VAL)
        if vx:
            self.plt.scatter(vx, vy, marker="●", color=VAL)  # each evaluation readable on its own
        for n, restart in enumerate(history.restarts, 1):
            self.markers[f"restart {n}"] = restart.step
            self.plt.vertical_line(restart.step, color=RESTART)


RAM_IN_VIEW = 0.4  # draw the total-RAM line once the curves or the budget reach 40% of it


class MemoryChart(MetricChart):
    """Unified memory against time: MLX active and peak, process RSS, system used; RAM and budget
    lines."""

    TITLE = "memory GB"

    def y_floor(self) -> float:
        return 0.0

    def plot(self, history: MetricHistory, points: int) -> None:
        span = max((s.xs[-1] for s in history.memory.values() if s), default=0.0)
        self.x_unit, divisor = time_unit(span)
        curves = {}
        for key in MEMORY_FIELDS:
            xs, ys = history.memory[key].downsample(points)
            curves[key] = ([x / divisor for x in xs], ys)
        all_x = [x for xs, _ in curves.values() for x in xs]
        legend = [swatch(MEMORY_COLORS[k], MEMORY_SHORT[k]) for k in MEMORY_FIELDS]
        highest = max([y for _, ys in curves.values() for y in ys] + [history.budget_gb or 0.0])
        for name, value, color in (
            ("RAM", history.total_ram_gb, RAM),
            ("budget", history.budget_gb, BUDGET),
        ):
            if not value:
                continue
            if name == "RAM" and highest < RAM_IN_VIEW * value:
                # Far above the curves, the line would squash them onto the bottom row: name it
                # only.
                legend.append(swatch(color, f"RAM {value:.3g} (off scale)", "─"))
                continue
            self.markers[name] = value
            legend.append(swatch(color, f"{name} {value:.3g}", "─"))
            if all_x:
                # Drawn as a flat line before the data, so a curve on top of it stays visible.
                self.plt.plot([min(all_x), max(all_x)], [value, value], marker="─", color=color)
        for key, label in MEMORY_FIELDS.items():
            self._line(label, *curves[key], MEMORY_COLORS[key])
        self.border_title = "GB " + " ".join(legend)

    def _y_markers(self) -> list[float]:
        return list(self.markers.values())


class SpeedChart(MetricChart):
    """Training throughput, tokens per second against step."""

    TITLE = f"tokens/s by step  {swatch(TRAIN, 'tok/s')}"

    def y_floor(self) -> float:
        return 0.0

    def plot(self, history: MetricHistory, points: int) -> None:
        self._line("tokens/s", *history.tokens_per_sec.downsample(points), TRAIN)


class MarginChart(MetricChart):
    """A preference run's (dpo, orpo) reward margin, chosen minus rejected, train and val by
    step."""

    TITLE = f"reward margin by step  {swatch(TRAIN, 'train')}  {swatch(VAL, 'val')}"
    metric = "margin"

    def plot(self, history: MetricHistory, points: int) -> None:
        for split, color in (("train", TRAIN), ("val", VAL)):
            xs, ys = history.rewards[f"{split} {self.metric}"].downsample(points)
            self._line(split, xs, ys, color)
            if split == "val" and xs:
                self.plt.scatter(xs, ys, marker="●", color=VAL)


class AccuracyChart(MarginChart):
    """The share of pairs whose chosen reply out-scores the rejected one, from 0 to 1."""

    TITLE = f"reward accuracy by step  {swatch(TRAIN, 'train')}  {swatch(VAL, 'val')}"
    metric = "accuracy"

    def y_floor(self) -> float:
        return 0.0


def time_unit(span_s: float) -> tuple[str, float]:
    """Seconds for short runs, minutes up to two hours, then hours: ticks stay short."""
    if span_s >= 2 * 3600:
        return "h", 3600.0
    if span_s >= 180:
        return "min", 60.0
    return "s", 1.0


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """At most `count` (at least 2 when possible) ticks at 1, 2, 2.5 or 5 times a power of ten in
    [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    count = max(2, count)
    magnitude = 10 ** math.floor(math.log10((hi - lo) / count))
    for step in (m * magnitude * 10**e for e in range(3) for m in (1, 2, 2.5, 5)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= count:
            break
    if last - first + 1 < 2:  # a step that leaves one tick: use the one below it
        step /= 2
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def tick_label(value: float, ticks: list[float]) -> str:
    """The fewest decimals that tell all the ticks apart exactly (none for whole numbers)."""
    decimals = next((d for d in range(9) if all(abs(round(t, d) - t) < 1e-9 for t in ticks)), 9)
    return f"{value:.{decimals}f}"
