"""Monitor screen: live loss, memory and throughput charts of the active run, and (key c) the
loss of several runs overlaid: the active run and those marked on Training (`app.comparison`), or
picked here (key r, a checklist of runs/ sharing those marks).

The App owns the `MetricHistory` (`app.history`) and feeds it run events; this screen never
receives them. It polls the history a few times a second and replots only when `history.version`
moved, and only while it is shown (a mode in the background costs nothing); on its return it
catches up after the switch's first frame.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from farense_tui.engine.runs.history import MetricHistory
from farense_tui.engine.runs.overlay import SMOOTHING, X_AXES, Comparison
from farense_tui.tui.dialogs.run_picker import RunPicker
from farense_tui.tui.widgets.charts import (
    AccuracyChart,
    LossChart,
    MarginChart,
    MemoryChart,
    MetricChart,
    SpeedChart,
)
from farense_tui.tui.widgets.chrome import CockpitScreen, chrome
from farense_tui.tui.widgets.compare_chart import CompareChart
from farense_tui.tui.widgets.key_bar import KeyBar

EMPTY_TEXT = "no run attached — start one on Config or attach on Training"
VIEWS = (
    "all",
    "loss",
    "memory",
    "speed",
    "rewards",
)  # rewards: a dpo/orpo run's margin and accuracy
COMPARE_KEYS = ("smooth", "log_scale", "x_axis")
"""Actions that only mean something in the compare view (hidden from the key bar elsewhere)."""


class MonitorScreen(CockpitScreen):
    """Charts of the active run with a one-line summary; an empty state when no run is attached."""

    CSS_PATH = "../styles/monitor.tcss"
    BINDINGS = [
        Binding("v", "cycle_view", "View"),
        Binding(
            "c",
            "compare",
            "Compare",
            tooltip="Overlay the loss of the runs marked on Training (c there)",
        ),
        Binding(
            "r",
            "pick_runs",
            "Runs",
            tooltip="Choose the runs to overlay (the marks c sets on Training)",
        ),
        Binding("e", "smooth", "Smooth", tooltip="Cycle the EMA smoothing of the training loss"),
        Binding("l", "log_scale", "Log", tooltip="Loss on a log scale, or back to linear"),
        Binding("x", "x_axis", "X axis", tooltip="x axis by step, trained tokens or training time"),
    ]

    view: reactive[str] = reactive("all", init=False)
    """Which charts show: all of them, one of loss / memory / speed using the whole screen, or
    the compare overlay."""

    def __init__(self, refresh_hz: float = 3.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.refresh_hz = refresh_hz
        self.seen_version: int | None = None
        self.redraws = 0

    def compose(self) -> ComposeResult:
        yield from chrome()
        with Vertical(id="charts", classes="-view-all"):
            yield LossChart(id="loss")
            yield CompareChart(id="compare")
            with Horizontal(id="small"):
                yield MemoryChart(id="memory")
                yield SpeedChart(id="speed")
            with Horizontal(id="rewards"):
                yield MarginChart(id="margin")
                yield AccuracyChart(id="accuracy")
        yield Static(id="summary", markup=False)
        yield Static(EMPTY_TEXT, id="empty", markup=False)
        yield KeyBar()

    @property
    def history(self) -> MetricHistory:
        return self.cockpit.history

    @property
    def comparison(self) -> Comparison:
        return self.cockpit.comparison

    @property
    def charts(self) -> list[MetricChart]:
        return list(self.query(MetricChart).results(MetricChart))

    def on_mount(self) -> None:
        self.set_interval(1 / self.refresh_hz, self.replot_if_changed)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self.replot_if_changed)  # the switch's frame first
        self._refresh_compared()

    def _refresh_compared(self) -> None:
        """Marked runs that went on training elsewhere are read again when the overlay is shown."""
        if self.view == "compare":
            self.cockpit.refresh_compared()

    def on_resize(self) -> None:
        # Downsampling and ticks depend on the charts' sizes: replot once the new layout is done.
        self.seen_version = None
        self.call_after_refresh(self.replot_if_changed)

    def replot_if_changed(self) -> None:
        """The timer's tick: replot when the history changed since the last drawing."""
        if not self.is_active:  # another mode or a screen on top: catch up on resume
            return
        history = self.history
        version = (history.version, self.comparison.version if self.view == "compare" else None)
        if version == self.seen_version:
            return
        self.seen_version = version
        self.replot(history)

    def replot(self, history: MetricHistory) -> None:
        attached = history.has_run
        comparing = self.view == "compare" and bool(self.comparison.loaded)
        self.query_one("#charts").display = attached or comparing
        self.query_one("#summary").display = attached
        self.query_one("#empty").display = not (attached or comparing)
        self.sub_title = history.run_dir.name if history.run_dir else ""
        self.query_one(CompareChart).comparison = self.comparison
        if attached or comparing:
            for chart in self.charts:
                if chart.display and chart.parent.display:
                    chart.draw(history)
        if attached:
            summary = self.query_one("#summary", Static)
            width = summary.content_region.width or self.size.width - 2
            summary.update(summary_line(history, width), layout=False)
        self.redraws += 1

    def action_cycle_view(self) -> None:
        """The next of all / loss / memory / speed / rewards (rewards only for a run that has them;
        from the compare view: back to all)."""
        views = VIEWS if any(self.history.rewards.values()) else VIEWS[:-1]
        self.view = (
            views[(views.index(self.view) + 1) % len(views)] if self.view in views else "all"
        )

    def action_compare(self) -> None:
        """The loss of the active run and the marked runs overlaid, or back to the charts."""
        self.view = "all" if self.view == "compare" else "compare"

    def action_pick_runs(self) -> None:
        """The run picker; the overlay shows when it closes."""

        def show_overlay(_: None) -> None:
            self.view = "compare"

        self.app.push_screen(RunPicker(), show_overlay)

    def action_smooth(self) -> None:
        chart = self.query_one(CompareChart)
        chart.smoothing = SMOOTHING[(SMOOTHING.index(chart.smoothing) + 1) % len(SMOOTHING)]
        self._settings_changed()

    def action_log_scale(self) -> None:
        chart = self.query_one(CompareChart)
        chart.log_scale = not chart.log_scale
        self._settings_changed()

    def action_x_axis(self) -> None:
        chart = self.query_one(CompareChart)
        chart.axis = X_AXES[(X_AXES.index(chart.axis) + 1) % len(X_AXES)]
        self._settings_changed()

    def _settings_changed(self) -> None:
        self.seen_version = None
        self.replot_if_changed()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in COMPARE_KEYS:
            return self.view == "compare"  # False hides the key: the settings are the overlay's
        return True

    def watch_view(self, old: str, new: str) -> None:
        charts = self.query_one("#charts")
        charts.remove_class(f"-view-{old}")
        charts.add_class(f"-view-{new}")
        self.seen_version = None  # charts that were hidden skipped their last replots
        self.refresh_bindings()
        self._refresh_compared()
        self.call_after_refresh(self.replot_if_changed)


def summary_line(history: MetricHistory, width: int = 0) -> Text:
    """Last loss, best validation loss, peak memory against the budget, swap, restarts, state.

    With a `width`, the least important parts (state, then restarts, then swap) are left out
    until the line fits: one line under the charts, never two.
    """
    step = history.last_step
    if step is None:
        return Text(f"waiting for the first step… {history.state}".rstrip(), style="dim")
    total = step.get("total_steps")
    parts = [
        Text(f"step {step['step']}/{total}" if total else f"step {step['step']}"),
        Text(f"loss {_num(step.get('loss'))}"),
    ]
    if history.best_val:
        best_step, best = history.best_val
        parts.append(Text(f"best val {best:.3f} @{best_step}"))
    if step.get("reward_margin") is not None:  # dpo, orpo
        parts.append(
            Text(f"margin {_num(step['reward_margin'])} acc {_num(step.get('reward_accuracy'))}")
        )
    peak = history.peak_memory_gb
    if history.budget_gb:
        over = peak > history.budget_gb
        parts.append(
            Text(f"peak {_gb(peak)}/{_gb(history.budget_gb)} GB", style="bold red" if over else "")
        )
    else:
        parts.append(Text(f"peak {_gb(peak)} GB"))
    optional = []  # most important first
    swap = history.swap_gb
    if swap is not None:
        optional.append(Text(f"swap {swap:.1f} GB", style="bold yellow" if swap >= 0.5 else ""))
    if history.restarts:
        optional.append(Text(f"↻{len(history.restarts)}", style="red"))
    if history.state and history.state != "training":
        optional.append(Text(history.state, style="italic"))
    line = Text("  ").join(parts + optional)
    while width and optional and line.cell_len > width:
        optional.pop()
        line = Text("  ").join(parts + optional)
    return line


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "—"


def _gb(value: float) -> str:
    """Three significant digits: 11, 7.2, 0.44 — short enough for one line at 80 columns."""
    return f"{value:.3g}"
