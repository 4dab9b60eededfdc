"""Checkpoints on disk, read without MLX: the one to resume from, and the folders a kill left.

Written by the engine (training/checkpoint_writer.py) in the layout run_folder.py declares;
runs/<id>/training_state.json points at the newest complete checkpoint. A kill can leave that
pointer behind (between the folder's rename and the record's) or a folder moved aside (.old-step-N,
a same-step save): the newest complete folder is the one resumed, never nothing while a complete
one is there.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.runs import run_folder as layout
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.runs.training_state import CHECKPOINT_FILE, TrainingState


def latest_checkpoint(run_dir: Path) -> tuple[Path, TrainingState] | None:
    """The newest complete checkpoint with the run's record as of that checkpoint (its state.json,
    with the failures the run's training_state.json has recorded since)."""
    for folder in RunFolder(run_dir).complete_checkpoints():
        saved = TrainingState.from_file(folder / CHECKPOINT_FILE)
        if saved is None:
            continue
        run_record = TrainingState.load(run_dir)
        failures = run_record.failures if run_record else saved.failures
        return folder, replace(
            saved, checkpoint=folder.name.removeprefix(layout.ASIDE), failures=failures
        )
    return None


def clean_partial(run_dir: Path) -> None:
    """Remove half-written folders; put back a whole folder that a kill left moved aside."""
    run = RunFolder(run_dir)
    for tmp in run.checkpoints.glob(f"{layout.STAGED}{layout.STEP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for old in run.checkpoints.glob(f"{layout.ASIDE}{layout.STEP_PREFIX}*"):
        final = run.checkpoints / old.name.removeprefix(layout.ASIDE)
        if not final.exists() and layout.is_complete(old):
            old.rename(final)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for name in layout.PUBLISHED:  # the same gap when a better adapter replaces the best one
        final = run.published(name)
        if layout.aside(final).exists() and not final.exists():
            layout.aside(final).rename(final)
        shutil.rmtree(layout.staged(final), ignore_errors=True)


def check_resumable(run_dir: Path, cfg: RunConfig, state: TrainingState) -> None:
    """Raise a UserError naming what changed when `cfg` cannot continue `state`'s checkpoint
    exactly."""
    changed = cfg.resume_mismatch(state.training_key, state.config_hash)
    if changed:
        raise UserError(
            f"{RunFolder(run_dir).training_state}: cannot resume from {state.checkpoint} exactly, "
            f"the run's settings "
            f"changed since it was saved: {changed}. Undo the change, or start a new run"
        )
