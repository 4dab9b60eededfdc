"""The Monitor's run picker: every run in runs/ with a checkbox, checked when it is marked for the
overlay. Space (or a click) marks or unmarks a run at once, through the App's `toggle_compare`,
the same marks as `c` on the Training screen; the active run is always overlaid, so it is listed
but cannot be unchecked. Escape or Enter closes it."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from farense_tui.engine import runs
from farense_tui.engine.runs.status import fmt_loss
from farense_tui.tui.chat_text import literal_text
from farense_tui.tui.cockpit import cockpit
from farense_tui.tui.dialogs.prompts import DIALOG_CSS
from farense_tui.tui.messages import RunsListed


class RunPicker(ModalScreen[None]):
    """Check the runs to overlay on the Monitor."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("enter", "dismiss(None)", "Close", show=False),
    ]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="RunPicker")
        + """
    RunPicker SelectionList { height: auto; max-height: 14; }
    """
    )

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Runs on the Monitor's overlay", classes="title")
            yield Static(
                "space marks or unmarks a run (as c on Training); esc closes", classes="body"
            )
            yield SelectionList[Path](id="picked")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()
        self.list_runs()

    @work(
        thread=True,
        exclusive=True,
        group="pick-runs",
        exit_on_error=False,
        description="list runs/ to pick from",
    )
    def list_runs(self) -> None:
        self.post_message(RunsListed(runs.list_runs()))

    @on(RunsListed)
    def offer_runs(self, message: RunsListed) -> None:
        # the App's own handler attaches at start; this listing is only for the picker
        message.stop()
        comparison = cockpit(self).comparison
        picked = self.query_one(SelectionList)
        picked.clear_options()
        for r in message.runs:
            active = r.path == comparison.active
            what = (
                "active, always shown" if active else f"{r.status}, {r.step}/{r.total_steps or '?'}"
            )
            prompt = literal_text(f"{r.run_id}  ({what}, best val {fmt_loss(r.best_val_loss)})")
            picked.add_option(
                Selection(prompt, r.path, active or r.path in comparison.marked, disabled=active)
            )

    @on(SelectionList.SelectionToggled)
    def mark(self, event: SelectionList.SelectionToggled) -> None:
        cockpit(self).toggle_compare(event.selection.value)
