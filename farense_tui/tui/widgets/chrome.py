"""What every cockpit screen shares: the mode bar, the active run's header line, and a base
class.

The two lines read App-level state (the current mode, the App's `RunStatus`) through Signals,
because a screen of an inactive mode cannot be queried: every screen has its own copy and each
keeps itself up to date.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget

from farense_tui.engine.runs.event_types import ENDED, State
from farense_tui.engine.runs.status import RunStatus, fmt_duration, fmt_loss
from farense_tui.tui.cockpit import CockpitApp, cockpit
from farense_tui.tui.modes import MODES
from farense_tui.tui.textual_patches import PatchedScreen

STATUS_STYLE = {
    "training": "$success",
    "evaluating": "$success",
    "saving": "$success",
    "loading": "$accent",
    "paused": "$warning",
    "stopping": "$warning",
    "switching": "$warning",
    "recovering": "$warning",
    "finished": "$primary",
    "stopped": "$foreground-muted",
    "failed": "$error",
    "dead": "$error",
    "queued": "$foreground-muted",
}


class CockpitScreen(PatchedScreen):
    """A screen shown as a mode: it comes back on a switch as it was left (textual_patches.py),
    and reads the App as the cockpit."""

    @property
    def cockpit(self) -> CockpitApp:
        """The App that shows this screen, as the cockpit (tui/cockpit.py)."""
        return cockpit(self)


class ModeBar(Widget):
    """The modes, "1 Config  2 Training  3 Monitor  4 Chat  5 Evaluate": the current one
    highlighted, each clickable."""

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
                parts.append(
                    Content.from_markup(
                        f"[@click=app.switch_mode('{mode.name}')]$text[/]", text=text
                    )
                )
            parts.append(" ")
        title = "farense-tui"
        used = sum(len(p) for p in parts)
        if self.size.width - used > len(title) + 1:
            parts.append(
                Content.styled(title.rjust(self.size.width - used - 1), "$foreground-muted")
            )
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
            return Content.styled(
                "No active run — start one on Config (1) or attach on Training (2)",
                "$foreground-muted",
            )
        status = s.status
        total = s.total_steps or "?"
        facts = [f"step {s.step}/{total}", f"loss {fmt_loss(s.loss)}"]
        if status not in ENDED and status != State.DEAD:
            facts.append(f"ETA {fmt_duration(s.eta)}")
        extra = [
            f"best val {fmt_loss(s.best_val_loss)}" if s.best_val_loss is not None else "",
            f"{s.tokens_per_sec:.0f} tok/s last step" if s.tokens_per_sec is not None else "",
            f"profile {s.profile}" if s.profile else "",
        ]
        width = self.size.width - 2
        for fact in filter(None, extra):  # more facts when the line has room for them
            if len(s.run_id) + len(status) + 4 + len("  ".join([*facts, fact])) + 2 <= width:
                facts.append(fact)
        tail = "  " + "  ".join(facts)
        room = max(8, width - len(status) - 3 - len(tail))
        run_id = s.run_id if len(s.run_id) <= room else "…" + s.run_id[-(room - 1) :]
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
