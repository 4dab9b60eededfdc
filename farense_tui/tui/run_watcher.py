"""Tail the active run's events.jsonl in a thread worker and turn it into messages for the App.

`tail_run` is plain Python (a loop with a cancel check, driven by a `post` callback), so it can be
tested without a UI; `WatchesRuns` is the App's side: the worker declaration that runs it. The
first read returns the whole file, so attaching to a run shows its history at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.worker import get_current_worker

from farense_tui.engine import runs
from farense_tui.engine.runs.events import EventReader
from farense_tui.tui.messages import RunEventsArrived, RunLivenessChanged

POLL_LIVE = 0.2  # seconds between reads while the run's process is alive
POLL_IDLE = 1.0  # ... and while it is not (a CLI may resume it)
LIVENESS_EVERY = 1.0  # seconds between process checks (psutil)


def tail_run(
    run_dir: Path,
    post: Callable[[object], object],
    cancelled: Callable[[], bool],
    *,
    is_alive: Callable[[Path], bool] | None = None,
    poll: tuple[float, float] = (POLL_LIVE, POLL_IDLE),
    liveness_every: float = LIVENESS_EVERY,
) -> None:
    """Post one RunEventsArrived per batch of new events and RunLivenessChanged on each change."""
    is_alive = is_alive or runs.is_alive
    reader = EventReader(run_dir / "events.jsonl")
    alive: bool | None = None
    next_check = 0.0
    while not cancelled():
        now = time.monotonic()
        seen_alive = alive
        if now >= next_check:
            # Looked at before reading, so events written before the process ended are in this read.
            seen_alive = is_alive(run_dir)
            next_check = now + liveness_every
        # Only well-formed events: a foreign or damaged line must not reach the UI.
        events = [e for e in reader.read_new() if isinstance(e, dict) and "type" in e]
        if events:
            post(RunEventsArrived(run_dir, events))
        if seen_alive != alive:
            alive = seen_alive
            post(RunLivenessChanged(run_dir, bool(alive)))
        deadline = time.monotonic() + (poll[0] if alive else poll[1])
        while not cancelled() and time.monotonic() < deadline:
            time.sleep(min(0.05, poll[0]))


class WatchesRuns:
    """Mixin for the App: one watcher at a time (exclusive), cancelled on quit or re-attach."""

    @work(thread=True, exclusive=True, group="watch", exit_on_error=False,
          description="tail the active run's events.jsonl")
    def watch_run(self, run_dir: Path) -> None:
        worker = get_current_worker()
        tail_run(run_dir, self.post_message, lambda: worker.is_cancelled)
