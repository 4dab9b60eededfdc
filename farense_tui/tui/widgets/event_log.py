"""The run's notable events as a scrolling log: evaluations, checkpoints, warnings, errors, recoveries.

Engine text is shown as plain text (markup off): a message with "[" in it is data, not styling.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from farense_tui.tui.run_status import fmt_loss, recovery_change

STYLES = {"state": "cyan", "step": "dim", "eval": "green", "checkpoint": "blue", "warning": "yellow",
          "error": "bold red", "recovery": "bold yellow", "finished": "bold green"}


def describe(e: dict) -> str:
    """One event in words."""
    kind = e.get("type")
    if kind == "state":
        message = e.get("message", "")
        return f"{e.get('state')}: {message}" if message else str(e.get("state"))
    if kind == "step":
        return (f"step {e.get('step')}/{e.get('total_steps')}: loss {fmt_loss(e.get('loss'))}, "
                f"{e.get('tokens_per_sec', 0):.0f} tok/s")
    if kind == "eval":
        best = ", new best" if e.get("is_best") else ""
        return f"step {e.get('step')}: val loss {fmt_loss(e.get('val_loss'))}{best} ({e.get('eval_time', 0):.1f} s)"
    if kind == "checkpoint":
        return f"step {e.get('step')} ({e.get('reason')}) → {e.get('path')}"
    if kind == "error":
        return f"{e.get('kind')}: {e.get('message')}"
    if kind == "recovery":
        message, change = str(e.get("message", "")), recovery_change(e)
        now = "" if change in message else f"; now {change}"
        return f"{message}{now}; continues from step {e.get('resume_step')}"
    if kind == "finished":
        adapters = [Path(p).name for p in (e.get("final_adapter"), e.get("best_adapter")) if p]
        return (f"finished at step {e.get('step')}, best validation {fmt_loss(e.get('best_val_loss'))}; "
                f"adapters in the run folder: {', '.join(adapters) or 'none'}")
    return str(e.get("message", ""))


class EventLog(RichLog):
    """A RichLog of run events (markup off); `add` writes one event with its time and kind.

    It keeps the events it shows and rewrites them when its width changes, since a RichLog
    wraps a line once, at the width it had when the line was written.
    """

    DEFAULT_CSS = """
    EventLog { height: 1fr; border: round $panel-lighten-2; background: $surface; scrollbar-gutter: stable; }
    EventLog:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(markup=False, highlight=False, wrap=True, max_lines=2000, min_width=20, id=id)
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
        row.add_row(stamp, kind, Text(describe(e)))
        self.write(row, expand=True)

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if self.drawn_width and width != self.drawn_width and self.events:
            super().clear()
            for e in self.events:
                self._write(e)
        self.drawn_width = width
