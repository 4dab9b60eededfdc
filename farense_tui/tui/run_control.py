"""The App's hands on runs: attach, pause/resume, stop-and-save, save-now, switch profile, resume.

A mixin of the App (which owns the active run), so every screen, key and palette command drives
runs the same way. Commands go through the engine's files (runs.send), so they reach a run
whoever started it; what happened next is seen in the run's events, never assumed here.
"""

from __future__ import annotations

from pathlib import Path

from farense_tui.engine.runs import commands
from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import available_profiles
from farense_tui.engine.profiles.downshift import downshift
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.status import ENDED, RunStatus
from farense_tui.tui.widgets.dialogs import ProfilePicker, recovery_dialog

RUNNING = ("loading", "training", "evaluating", "saving", "paused", "switching", "recovering")


class ControlsRuns:
    """Mixin for the App: expects `run_status`, `history`, `run_changed`, `watch_run`, `notify`."""

    run_status: RunStatus

    # ---- attaching --------------------------------------------------------------------------
    def attach(self, run_dir: Path) -> None:
        """Make `run_dir` the active run and tail its events from the start of the file."""
        try:
            cfg = RunConfig.load(run_dir / "config.toml")
            model, profile, budget = cfg.model, cfg.profile.name, cfg.profile.memory_budget_gb
            log_every, iters = cfg.profile.log_every, cfg.profile.iters
        except (UserError, KeyError) as exc:
            self.notify(f"Cannot attach to {run_dir.name}: {exc}", severity="error")
            return
        self.run_status = RunStatus(run_dir=run_dir, model=model, profile=profile, budget_gb=budget,
                                    log_every=log_every, total_steps=iters)
        self.history.reset(run_dir, budget, self.total_ram_gb)
        self.watch_run(run_dir)
        self.run_changed.publish(self.run_status)

    # ---- commands to the active run ---------------------------------------------------------
    def _live_run(self, doing: str) -> Path | None:
        s = self.run_status
        if s.run_dir is None:
            self.notify(f"No active run to {doing}: start one on Config or attach on Training (a)",
                        severity="warning")
            return None
        if not s.alive or s.status in ENDED or s.status == "dead":
            self.notify(f"Run {s.run_id} is {s.status or 'not running'}: nothing to {doing}",
                        severity="warning")
            return None
        return s.run_dir

    def action_toggle_pause(self) -> None:
        """Pause the active run, or continue it when paused."""
        if (run_dir := self._live_run("pause")) is None:
            return
        cmd = "resume" if self.run_status.status == "paused" else "pause"
        commands.send(run_dir, cmd)
        self.notify("Continuing…" if cmd == "resume" else "Pausing after the current step…")

    def action_stop_run(self) -> None:
        """Checkpoint the active run and stop it (resume it any time)."""
        if (run_dir := self._live_run("stop")) is not None:
            commands.send(run_dir, "stop")
            self.notify("Stopping: a checkpoint is written after the current step…")

    def action_save_run(self) -> None:
        """Write a checkpoint of the active run now, and keep training."""
        if (run_dir := self._live_run("save")) is not None:
            commands.send(run_dir, "save")
            self.notify("Saving a checkpoint after the current step…")

    def action_switch_profile(self) -> None:
        """Checkpoint the active run and restart it with another profile (same effective batch)."""
        if (run_dir := self._live_run("switch")) is None:
            return
        try:
            found = available_profiles()
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        described = {n: f"{p.backend} batch {p.batch_size}×{p.grad_accumulation}, seq {p.max_seq_length}, "
                     f"budget {p.memory_budget_gb:g} GB" for n, p in found.items()}

        def chosen(name: str | None) -> None:
            if name:
                commands.send(run_dir, "switch", profile=name)
                self.notify(f"Switching to {name}: checkpoint, then restart with its memory settings")

        self.push_screen(ProfilePicker("Switch the run to profile", described, self.run_status.profile), chosen)

    # ---- resuming any run -------------------------------------------------------------------
    def resume_run(self, run_dir: Path, smaller: bool = False) -> None:
        try:
            runs.resume(run_dir, smaller=smaller)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"Resuming {run_dir.name}" + (" with smaller settings" if smaller else ""))
        self.attach(run_dir)

    def offer_resume(self, run_dir: Path) -> None:
        """Ask how to continue a stopped, failed or dead run: smaller, as is, or leave it."""
        try:
            info = runs.info(run_dir)
            cfg = RunConfig.load(run_dir / "config.toml")
            shift = downshift(cfg.profile, available_profiles())
        except (UserError, KeyError, OSError) as exc:
            self.notify(f"Cannot read {run_dir.name}: {exc}", severity="error")
            return
        if info.alive or info.status == "finished":
            self.notify(f"Run {info.run_id} is {info.status}: nothing to resume", severity="warning")
            return
        if info.status == "dead":
            what = ("Its engine process is gone without a final word (killed, crashed, or the "
                    f"machine slept) at step {info.step}.")
        else:
            what = f"It is {info.status}: {info.message}"

        def chosen(answer: str | None) -> None:
            if answer in ("smaller", "as-is"):
                self.resume_run(run_dir, smaller=answer == "smaller")

        crashed = info.status == "dead" or info.status == "failed" and info.recoverable
        dialog = recovery_dialog(info.run_id, what, info.checkpoint_step, shift[1] if shift else None, crashed)
        self.push_screen(dialog, chosen)
