"""Every run in runs/ with status, steps, best validation loss, profile and when it was created;
a dot in the run's colour before those marked for comparison on the Monitor.

The cursor row keeps the cells' own colours (the mark's and the status's): with DataTable's
default the cursor's foreground paints over them, and a marked run under the cursor lost the
colour its curves have on the Monitor."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable

from farense_tui.engine.runs.status import fmt_loss
from farense_tui.tui.chat_text import literal_text
from farense_tui.tui.widgets.chrome import STATUS_STYLE

COLOURS = {
    "$success": "green",
    "$warning": "yellow",
    "$error": "red",
    "$primary": "blue",
    "$accent": "cyan",
    "$foreground-muted": "dim",
}


class RunsTable(DataTable):
    """A row per run (key: the run folder); the cursor stays on the same run across refreshes."""

    DEFAULT_CSS = """
    RunsTable { height: 1fr; border: round $panel-lighten-2; }
    RunsTable:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(
            cursor_type="row", zebra_stripes=True, id=id, cursor_foreground_priority="renderable"
        )
        self.border_title = "Runs (a attach · r resume · c compare)"
        self.infos: dict[str, object] = {}
        self.marks: dict[str, tuple[int, int, int]] = {}  # run folder -> its colour, when marked

    def on_mount(self) -> None:
        self.add_columns("", "run", "status", "steps", "best val", "profile", "created")

    @property
    def selected(self) -> Path | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return Path(key.value) if key.value else None

    def show_runs(self, infos: list, marks: dict[str, tuple[int, int, int]] | None = None) -> None:
        """Replace the rows with `infos` (engine RunInfo, newest first).

        The cursor stays on the run it was on, unless it was on the top row: then it stays on top,
        so a run that just appeared (started by the CLI, say) is the one `a` attaches to.
        A listing equal to the one shown changes nothing (the screen lists runs/ every few seconds).
        `marks` (run folder -> colour) puts a dot in the run's colour before each marked run.
        """
        marks = self.marks if marks is None else marks
        if infos == list(self.infos.values()) and marks == self.marks:
            return
        keep = self.selected if self.cursor_row > 0 else None
        self.infos, self.marks = {str(r.path): r for r in infos}, dict(marks)
        self.clear()
        for r in infos:
            colour = COLOURS.get(STATUS_STYLE.get(r.status, ""), "")
            mark = marks.get(str(r.path))
            self.add_row(
                Text("●", style=f"rgb{mark}".replace(" ", "")) if mark else "",
                literal_text(r.run_id),
                Text(r.status, style=colour),
                f"{r.step}/{r.total_steps or '?'}",
                fmt_loss(r.best_val_loss),
                literal_text(r.profile),
                time.strftime("%m-%d %H:%M", time.localtime(r.created)),
                key=str(r.path),
            )
        if keep is not None and str(keep) in self.infos:
            self.move_cursor(row=self.get_row_index(str(keep)))
