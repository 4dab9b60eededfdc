"""The App's watcher of the active run: the engine's `follow` in a thread worker, as messages.

One run is followed at a time (an exclusive worker group): watching another cancels the last,
and so does closing on quit, which the loop notices within a poll. The first read returns the
whole file, so attaching shows the run's history at once.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import App
from textual.worker import get_current_worker

from farense_tui.engine.runs.follow import follow
from farense_tui.tui.messages import RunEventsArrived, RunLivenessChanged

GROUP = "watch"


class RunWatcher:
    """Follows one run for `app`, posting it RunEventsArrived per batch and RunLivenessChanged."""

    def __init__(self, app: App) -> None:
        """`app` runs the worker and receives the messages."""
        self.app = app

    def watch(self, run_dir: Path) -> None:
        """Follow `run_dir` from the start of its events, instead of the run followed so far."""
        self.app.run_worker(partial(self._follow, run_dir), thread=True, exclusive=True, group=GROUP,
                            exit_on_error=False, description="follow the active run's events.jsonl")

    def close(self) -> None:
        self.app.workers.cancel_group(self.app, GROUP)

    def _follow(self, run_dir: Path) -> None:
        worker = get_current_worker()
        post = self.app.post_message
        follow(run_dir, lambda events: post(RunEventsArrived(run_dir, events)), lambda: worker.is_cancelled,
               on_liveness=lambda alive: post(RunLivenessChanged(run_dir, alive)))
