"""The App's watcher of the active run: the engine's `follow` in a thread worker, as messages.

One run is followed at a time (an exclusive worker group): watching another cancels the last,
and so does closing on quit, which the loop notices within a poll. The first read returns the
whole file, so attaching shows the run's history at once. When a run of a group (train --seeds)
ends, the watcher waits for the queue's next run and says so.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from textual.app import App
from textual.worker import get_current_worker

from farense_tui.engine.runs.follow import follow
from farense_tui.engine.runs.group import group_of, running_run
from farense_tui.tui.messages import GroupRunStarted, RunEventsArrived, RunLivenessChanged

GROUP = "watch"
GROUP_NEXT = "group-next"
GROUP_NEXT_WAIT = 30.0  # seconds to wait for a group's queue to start its next run


class RunWatcher:
    """Follows one run for `app`, posting it RunEventsArrived per batch and RunLivenessChanged."""

    def __init__(self, app: App) -> None:
        """`app` runs the worker and receives the messages."""
        self.app = app

    def watch(self, run_dir: Path) -> None:
        """Follow `run_dir` from the start of its events, instead of the run followed so far."""
        self.app.run_worker(
            partial(self._follow, run_dir),
            thread=True,
            exclusive=True,
            group=GROUP,
            exit_on_error=False,
            description="follow the active run's events.jsonl",
        )

    def await_group_next(self, run_dir: Path) -> None:
        """`run_dir` ended: if its group's queue goes on, post GroupRunStarted for the next run."""
        self.app.run_worker(
            partial(self._await_group_next, run_dir),
            thread=True,
            exclusive=True,
            group=GROUP_NEXT,
            exit_on_error=False,
            description="wait for the next run of the active run's group",
        )

    def close(self) -> None:
        self.app.workers.cancel_group(self.app, GROUP)
        self.app.workers.cancel_group(self.app, GROUP_NEXT)

    def _follow(self, run_dir: Path) -> None:
        worker = get_current_worker()
        post = self.app.post_message
        follow(
            run_dir,
            lambda events: post(RunEventsArrived(run_dir, events)),
            lambda: worker.is_cancelled,
            on_liveness=lambda alive: post(RunLivenessChanged(run_dir, alive)),
        )

    def _await_group_next(self, run_dir: Path) -> None:
        group, worker = group_of(run_dir), get_current_worker()
        deadline = (
            time.monotonic() + GROUP_NEXT_WAIT
        )  # the queue starts the next run within a second or so
        while (
            group is not None
            and group.queue_alive
            and not worker.is_cancelled
            and time.monotonic() < deadline
        ):
            following = running_run(group)
            if following is not None and following != run_dir:
                self.app.post_message(GroupRunStarted(run_dir, following))
                return
            time.sleep(0.5)
