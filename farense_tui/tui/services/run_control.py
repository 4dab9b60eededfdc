"""The App's hands on runs: pause/continue, stop-and-save, save-now, switch profile, resume.

One object the App declares (`app.control`), so every screen, key and palette command drives
runs the same way. Commands go through the engine's files (commands.send), so they reach a run
whoever started it; what happened next is seen in the run's events, never assumed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.downshift import downshift
from farense_tui.engine.profiles.profile import available_profiles
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.runs.status import ENDED
from farense_tui.tui.dialogs.prompts import ProfilePicker, recovery_dialog

if TYPE_CHECKING:
    from farense_tui.tui.app import FarenseApp


class RunControl:
    """Commands to the App's active run, and resuming any run; says what it did in notices."""

    def __init__(self, app: FarenseApp) -> None:
        """`app` holds the active run (`run_status`), shows notices and dialogs, and attaches."""
        self.app = app

    # ---- commands to the active run ---------------------------------------------------------
    def _live_run(self, doing: str) -> Path | None:
        s = self.app.run_status
        if s.run_dir is None:
            self.app.notify(
                f"No active run to {doing}: start one on Config or attach on Training (a)",
                severity="warning",
            )
            return None
        if not s.alive or s.status in ENDED or s.status == "dead":
            self.app.notify(
                f"Run {s.run_id} is {s.status or 'not running'}: nothing to {doing}",
                severity="warning",
            )
            return None
        return s.run_dir

    def toggle_pause(self) -> None:
        """Pause the active run, or continue it when paused."""
        if (run_dir := self._live_run("pause")) is None:
            return
        cmd = "resume" if self.app.run_status.status == "paused" else "pause"
        commands.send(run_dir, cmd)
        self.app.notify("Continuing…" if cmd == "resume" else "Pausing after the current step…")

    def stop(self) -> None:
        """Checkpoint the active run and stop it (resume it any time)."""
        if (run_dir := self._live_run("stop")) is not None:
            commands.send(run_dir, "stop")
            self.app.notify("Stopping: a checkpoint is written after the current step…")

    def save(self) -> None:
        """Write a checkpoint of the active run now, and keep training."""
        if (run_dir := self._live_run("save")) is not None:
            commands.send(run_dir, "save")
            self.app.notify("Saving a checkpoint after the current step…")

    def switch_profile(self) -> None:
        """Checkpoint the active run and restart it with another profile (same effective batch)."""
        if (run_dir := self._live_run("switch")) is None:
            return
        try:
            found = available_profiles()
        except UserError as exc:
            self.app.notify(str(exc), severity="error")
            return
        described = {
            n: f"{p.backend} batch {p.batch_size}×{p.grad_accumulation}, seq {p.max_seq_length}, "
            f"budget {p.memory_budget_gb:g} GB"
            for n, p in found.items()
        }

        def chosen(name: str | None) -> None:
            if name:
                commands.send(run_dir, "switch", profile=name)
                self.app.notify(
                    f"Switching to {name}: checkpoint, then restart with its memory settings"
                )

        picker = ProfilePicker("Switch the run to profile", described, self.app.run_status.profile)
        self.app.push_screen(picker, chosen)

    # ---- resuming any run -------------------------------------------------------------------
    def resume(self, run_dir: Path, smaller: bool = False) -> None:
        try:
            runs.resume(run_dir, smaller=smaller)
        except UserError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.app.notify(f"Resuming {run_dir.name}" + (" with smaller settings" if smaller else ""))
        self.app.attach(run_dir)

    def offer_resume(self, run_dir: Path) -> None:
        """Ask how to continue a stopped, failed or dead run: smaller, as is, or leave it."""
        try:
            info = runs.info(run_dir)
            cfg = RunFolder(run_dir).load_config()
            shift = downshift(cfg.profile, available_profiles())
        except (UserError, KeyError, OSError) as exc:
            self.app.notify(f"Cannot read {run_dir.name}: {exc}", severity="error")
            return
        if info.alive or info.status == "finished":
            self.app.notify(
                f"Run {info.run_id} is {info.status}: nothing to resume", severity="warning"
            )
            return
        if info.status == "dead":
            what = (
                "Its engine process is gone without a final word (killed, crashed, or the "
                f"machine slept) at step {info.step}."
            )
        else:
            what = f"It is {info.status}: {info.message}"

        def chosen(answer: str | None) -> None:
            if answer in ("smaller", "as-is"):
                self.resume(run_dir, smaller=answer == "smaller")

        crashed = info.status == "dead" or info.status == "failed" and info.recoverable
        dialog = recovery_dialog(
            info.run_id, what, info.checkpoint_step, shift[1] if shift else None, crashed
        )
        self.app.push_screen(dialog, chosen)
