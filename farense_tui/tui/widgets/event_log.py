"""The run's notable events as a scrolling log: evaluations, checkpoints, warnings, errors,
recoveries.

Engine text is shown as plain text (markup off): a message with "[" in it is data, not styling.
"""

from __future__ import annotations

import time
from collections import deque

from rich.table import Table
from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from farense_tui.engine.runs.status import describe_event

STYLES = {
    "state": "cyan",
    "step": "dim",
    "eval": "green",
    "checkpoint": "blue",
    "warning": "yellow",
    "note": "cyan",
    "error": "bold red",
    "recovery": "bold yellow",
    "finished": "bold green",
}


class EventLog(RichLog):
    """A RichLog of run events (markup off); `add` writes one event with its time and kind.

    It keeps the events it shows and rewrites them when its width changes, since a RichLog
    wraps a line once, at the width it had when the line was written.
    """

    DEFAULT_CSS = """
    EventLog {
        height: 1fr; border: round $panel-lighten-2; background: $surface; scrollbar-gutter: stable;
    }
    EventLog:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(
            markup=False, highlight=False, wrap=True, max_lines=2000, min_width=20, id=id
        )
        self.border_title = "Events"
        self.events: deque[dict] = deque(maxlen=2000)
        self.drawn_width = 0

    def add(self, e: dict) -> None:
        self.events.append(e)
        self._write(e)

    def clear(self) -> "EventLog":
        self.events.clear()
        return super().clear()

    def _write(self, e: dict) -> None:
        kind = str(e.get("type"))
        stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", 0)))
        # A grid, so a long message wraps under itself, not under the time.
        row = Table.grid(padding=(0, 1), expand=True)
        row.add_column(width=8, style="dim")
        row.add_column(width=10, style=STYLES.get(kind, ""))
        row.add_column(ratio=1)
        row.add_row(stamp, kind, Text(describe_event(e)))
        self.write(row, expand=True)

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if self.drawn_width and width != self.drawn_width and self.events:
            super().clear()
            for e in self.events:
                self._write(e)
        self.drawn_width = width
