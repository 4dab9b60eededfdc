"""What every cockpit screen shares: the mode bar, the active run's header line, and a base class.

The two lines read App-level state (the current mode, the App's `RunStatus`) through Signals,
because a screen of an inactive mode cannot be queried: every screen has its own copy and each
keeps itself up to date.
"""

from __future__ import annotations

from typing import Self

from textual import events
from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.widget import Widget

from farense_tui.engine.runs.event_types import ENDED, State
from farense_tui.engine.runs.status import RunStatus, fmt_duration, fmt_loss
from farense_tui.tui.cockpit import CockpitApp, cockpit
from farense_tui.tui.modes import MODES
from farense_tui.tui.switch_compositor import SwitchCompositor


STATUS_STYLE = {
    "training": "$success", "evaluating": "$success", "saving": "$success", "loading": "$accent",
    "paused": "$warning", "stopping": "$warning", "switching": "$warning", "recovering": "$warning",
    "finished": "$primary", "stopped": "$foreground-muted", "failed": "$error", "dead": "$error",
    "queued": "$foreground-muted",
}


class CockpitScreen(Screen):
    """A screen shown as a mode: it comes back on a switch as it was left, without a restyle."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Textual marks a new screen's styles as stale (-1), so a first visit re-read and re-applied
        # the whole stylesheet twice, and the mode visited last kept the mark (the refresh only
        # records it on a screen already mounted): its first return re-read it again, ~100 ms.
        # A screen made now is styled with the stylesheet as it is now; a theme change afterwards
        # still marks it stale, and switch_mode refreshes it as before.
        self._css_update_count = self.app._css_update_count
        self._resuming = False
        self._compositor = SwitchCompositor()
        self._switch_repaint = False  # the next paint is a switch's: unchanged widgets as last drawn
        # Textual sets the width's breakpoint class on the first resize, which restyled every
        # widget once more before the first frame: a screen starts with it.
        own = self.HORIZONTAL_BREAKPOINTS
        breakpoints = (self.app.HORIZONTAL_BREAKPOINTS if own is None else own) or []
        self.add_class(*self._get_breakpoint_classes(self.app.size.width, breakpoints), update=False)

    @property
    def cockpit(self) -> CockpitApp:
        """The App that shows this screen, as the cockpit (tui/cockpit.py)."""
        return cockpit(self)

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Nothing restyles a hidden mode (switch_mode applies CSS and theme changes itself), and
        # restyling every widget on each visit was most of the cost of a switch: each widget
        # rendered again, charts rebuilt. Screen's own handler runs here, not after this one, so
        # that its repaint (a plain refresh) is known to be a switch's (see `refresh`).
        event.refresh_styles = False
        event.prevent_default()
        self._resuming = True
        try:
            super()._on_screen_resume(event)
        finally:
            self._resuming = False

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_cache.clear()  # its own lines (`refresh` may keep them) have new styles

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        # A switch refreshes the screen it leaves and the one it shows. A plain refresh throws
        # away the lines the screen itself has drawn (its background: a whole terminal of lines,
        # divided at every widget's edge), and drawing them again was about half of a switch.
        # Nothing in the screen changed: repaint the terminal from the lines already drawn.
        switching = self._resuming or getattr(self.app, "_switching_modes", False)
        if switching and self.is_mounted and not (regions or layout or recompose):
            self._repaint_regions.add(self.outer_size.region)
            self._repaint_required = True
            self._switch_repaint = True
            self.check_idle()
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _on_timer_update(self) -> None:
        # A switch's paint may come in two (what changed size while hidden, then the rest): both
        # take the unchanged widgets' last lines (tui/switch_compositor.py).
        painting = self.is_current and not self.app._batch_count
        self._compositor.reusing = self._switch_repaint and painting
        try:
            super()._on_timer_update()
        finally:
            self._compositor.reusing = False
            if painting:
                self._switch_repaint = False

    def _screen_resized(self, size: Size) -> None:
        # switch_mode lays out and paints the screen it shows, then its ScreenResume repaints the
        # whole screen again (and lays out what changed while hidden): a mode coming back at the
        # size it was laid out at was drawn twice per switch, a third to half of a switch's time.
        if getattr(self.app, "_returning_to_mode", False) and size == self._compositor.size:
            return
        super()._screen_resized(size)


class ModeBar(Widget):
    """"1 Config  2 Training  3 Monitor  4 Chat  5 Evaluate": the current mode highlighted, each clickable."""

    DEFAULT_CSS = """
    ModeBar { height: 1; background: $panel; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._line: tuple[tuple[str, int], Content] | None = None  # (mode, width) -> the line

    def on_mount(self) -> None:
        self.app.mode_change_signal.subscribe(self, self._mode_changed)

    def _mode_changed(self, mode: str) -> None:
        # Each mode's screen has its own bar, shown only while that mode is current: a switch
        # changes no bar in view. A refresh would only throw away its drawn line, drawn again
        # on every return.
        if self.screen.is_current and (self._line is None or self._line[0][0] != mode):
            self.refresh()

    def render(self) -> Content:
        drawn_for = (self.app.current_mode, self.size.width)
        if self._line is None or self._line[0] != drawn_for:
            self._line = drawn_for, self._build()
        return self._line[1]

    def _build(self) -> Content:
        current = self.app.current_mode
        parts: list[Content | str] = []
        for number, mode in enumerate(MODES, 1):
            text = f" {number} {mode.label} "
            if mode.name == current:
                parts.append(Content.styled(text, "bold reverse $accent"))
            else:
                parts.append(Content.from_markup(f"[@click=app.switch_mode('{mode.name}')]$text[/]",
                                                 text=text))
            parts.append(" ")
        title = "farense-tui"
        used = sum(len(p) for p in parts)
        if self.size.width - used > len(title) + 1:
            parts.append(Content.styled(title.rjust(self.size.width - used - 1), "$foreground-muted"))
        return Content.assemble(*parts)


class RunHeader(Widget):
    """One line: the active run's id, status, step/total, loss and ETA, fed by the App's signal."""

    DEFAULT_CSS = """
    RunHeader { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.status = RunStatus()

    def on_mount(self) -> None:
        cockpit(self).run_changed.subscribe(self, self.show)
        self.show(cockpit(self).run_status)

    def show(self, status: RunStatus) -> None:
        self.status = status
        self.refresh()

    def render(self) -> Content:
        s = self.status
        if s.run_dir is None:
            return Content.styled("No active run — start one on Config (1) or attach on Training (2)",
                                  "$foreground-muted")
        status = s.status
        total = s.total_steps or "?"
        facts = [f"step {s.step}/{total}", f"loss {fmt_loss(s.loss)}"]
        if status not in ENDED and status != State.DEAD:
            facts.append(f"ETA {fmt_duration(s.eta)}")
        extra = [f"best val {fmt_loss(s.best_val_loss)}" if s.best_val_loss is not None else "",
                 f"{s.tokens_per_sec:.0f} tok/s last step" if s.tokens_per_sec is not None else "",
                 f"profile {s.profile}" if s.profile else ""]
        width = self.size.width - 2
        for fact in filter(None, extra):  # more facts when the line has room for them
            if len(s.run_id) + len(status) + 4 + len("  ".join([*facts, fact])) + 2 <= width:
                facts.append(fact)
        tail = "  " + "  ".join(facts)
        room = max(8, width - len(status) - 3 - len(tail))
        run_id = s.run_id if len(s.run_id) <= room else "…" + s.run_id[-(room - 1):]
        mark = "●" if s.alive else "○"
        return Content.assemble(
            (f"{mark} ", STATUS_STYLE.get(status, "")),
            (run_id, "bold"),
            "  ",
            (status, f"bold {STATUS_STYLE.get(status, '')}".strip()),
            tail,
        )


def chrome() -> ComposeResult:
    """The top lines every cockpit screen starts with: `yield from chrome()` in compose."""
    yield ModeBar()
    yield RunHeader()
