"""The user's commands (runs/commands.py), read between steps: pause, resume, save, stop, switch;
and the supervisor's or a rank's watcher's going, which ends the run the same way.

Ours because mlx-lm's train() has no way to pause or stop it short of killing it. Controls only
say what is to be done: each yields Commands, and the Trainer carries them out (trainer.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from farense_tui.engine.processes import (
    EXIT_DONE,
    EXIT_RANK_LOST,
    EXIT_SWITCH,
    SUPERVISOR_ENV,
    WATCHER_ENV,
)
from farense_tui.engine.runs.commands import CommandInbox
from farense_tui.engine.runs.event_types import State

PAUSED_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Command:
    """What the Trainer does, in this order: enter `state`, save a checkpoint, enter `then`,
    exit."""

    state: State | None = None
    message: str = ""
    save: str = ""  # the checkpoint's reason; "" for none
    then: tuple[State, str] | None = None  # the state once saved
    exit_code: int | None = None  # ends the run with it


def _save_and_stop(stopping: str, stopped: str) -> Command:
    """Save, then end as stopped; a run resumes from there."""
    return Command(
        State.STOPPING, stopping, save="stop", then=(State.STOPPED, stopped), exit_code=EXIT_DONE
    )


class Controls:
    def __init__(self, run_dir: Path):
        self.inbox = CommandInbox(run_dir)
        self.paused = False
        # A data-parallel rank: its watcher, started by mlx.launch, is between us and the
        # supervisor.
        self.watcher = os.getppid() if WATCHER_ENV in os.environ else None
        # Named by the supervisor, since by the time we look it may already be gone; a rank on
        # another Mac has none (mlx.launch passes no environment over SSH).
        named = os.environ.get(SUPERVISOR_ENV)
        self.supervisor = int(named) if named else None if self.watcher else os.getppid()

    def between_steps(self, step: int, takes_commands: bool) -> Iterator[Command]:
        """The commands sent since the last step; while paused, wait here for more."""
        while True:
            if self.watcher is not None and os.getppid() != self.watcher:
                # The group is being ended (another rank died): this step's state may be partial, so
                # no checkpoint; the supervisor restarts the group from the last one.
                yield Command(exit_code=EXIT_RANK_LOST)
                return
            if not self._supervised():
                # The supervisor was killed: save and stop, so no engine trains unwatched (a later
                # resume would start a second one on the same run).
                yield _save_and_stop(
                    f"the supervisor process is gone: saving step {step}",
                    f"stopped at step {step} (its supervisor was killed); resume any time",
                )
                return
            if not takes_commands:
                return  # rank 0 takes the commands; a pause holds the others at the next all_sum
            for sent in self.inbox.take():
                command = self._command(sent, step)
                if command is not None:
                    yield command
            if not self.paused:
                return
            time.sleep(PAUSED_POLL_SECONDS)

    def _supervised(self) -> bool:
        """Our supervisor is still there: our parent, or for a rank an ancestor of its watcher."""
        if self.watcher is None:
            return os.getppid() == self.supervisor
        if self.supervisor is None:
            return True  # a rank on another Mac: its watcher ending (above) is the sign
        try:
            return any(p.pid == self.supervisor for p in psutil.Process(self.watcher).parents())
        except psutil.Error:
            return False

    def _command(self, sent: dict, step: int) -> Command | None:
        name = sent.get("cmd")
        if name == "pause" and not self.paused:
            self.paused = True
            return Command(State.PAUSED, f"paused at step {step}")
        if name == "resume" and self.paused:
            self.paused = False
            return Command(State.TRAINING, f"resumed at step {step}")
        if name == "save":
            return Command(save="save-now")
        if name == "stop":
            return _save_and_stop(
                f"stopping at step {step}", f"stopped at step {step}; resume any time"
            )
        if name == "switch":
            return Command(
                State.SWITCHING,
                f"switching to profile {sent.get('profile')}",
                save="switch",
                exit_code=EXIT_SWITCH,
            )
        return None
