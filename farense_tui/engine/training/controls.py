"""The user's commands (runs/commands.py) carried out between steps: pause, resume, save, stop, switch.

Ours because mlx-lm's train() has no way to pause or stop it short of killing it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from farense_tui.engine.runs.commands import CommandInbox
from farense_tui.engine.processes import EXIT_DONE, EXIT_RANK_LOST, EXIT_SWITCH, SUPERVISOR_ENV, WATCHER_ENV
from farense_tui.engine.training.stop import StopTraining

if TYPE_CHECKING:
    from farense_tui.engine.training.trainer import Trainer

PAUSED_POLL_SECONDS = 0.1


class Controls:
    def __init__(self, run_dir: Path):
        self.inbox = CommandInbox(run_dir)
        self.paused = False
        # A data-parallel rank: its watcher, started by mlx.launch, is between us and the supervisor.
        self.watcher = os.getppid() if WATCHER_ENV in os.environ else None
        # Named by the supervisor, since by the time we look it may already be gone; a rank on
        # another Mac has none (mlx.launch passes no environment over SSH).
        named = os.environ.get(SUPERVISOR_ENV)
        self.supervisor = int(named) if named else None if self.watcher else os.getppid()

    def between_steps(self, trainer: Trainer) -> None:
        """Apply the commands sent since the last step; while paused, wait here for more."""
        while True:
            if self.watcher is not None and os.getppid() != self.watcher:
                # The group is being ended (another rank died): this step's state may be partial, so
                # no checkpoint; the supervisor restarts the group from the last one.
                raise StopTraining(EXIT_RANK_LOST)
            if not self._supervised():
                self._orphaned(trainer)
            if not trainer.ranks.writer:
                return  # rank 0 takes the commands; a pause holds the others at the next all_sum
            for command in self.inbox.take():
                self._apply(trainer, command)
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

    def _orphaned(self, trainer: Trainer) -> None:
        """The supervisor was killed: save and stop, so no engine trains unwatched (a later resume
        would start a second one on the same run)."""
        trainer.set_state(state="stopping", message=f"the supervisor process is gone: saving step {trainer.step}")
        trainer.checkpoint("stop")
        trainer.set_state(state="stopped", message=f"stopped at step {trainer.step} (its supervisor was killed); resume any time")
        raise StopTraining(EXIT_DONE)

    def _apply(self, trainer: Trainer, command: dict) -> None:
        name, step = command.get("cmd"), trainer.step
        if name == "pause" and not self.paused:
            self.paused = True
            trainer.set_state(state="paused", message=f"paused at step {step}")
        elif name == "resume" and self.paused:
            self.paused = False
            trainer.set_state(state="training", message=f"resumed at step {step}")
        elif name == "save":
            trainer.checkpoint("save-now")
        elif name == "stop":
            trainer.set_state(state="stopping", message=f"stopping at step {step}")
            trainer.checkpoint("stop")
            trainer.set_state(state="stopped", message=f"stopped at step {step}; resume any time")
            raise StopTraining(EXIT_DONE)
        elif name == "switch":
            trainer.set_state(state="switching", message=f"switching to profile {command.get('profile')}")
            trainer.checkpoint("switch")
            raise StopTraining(EXIT_SWITCH)
