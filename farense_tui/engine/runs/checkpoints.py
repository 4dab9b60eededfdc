"""Checkpoints on disk, read without MLX: the one to resume from, and the adapters a run offers.

Written by the engine (training/checkpoint_writer.py). A checkpoint is a folder
checkpoints/step-NNNNNNN/ with the adapter in mlx-lm's format (adapters.safetensors +
adapter_config.json), optimizer.safetensors and state.json; runs/<id>/training_state.json points
at the newest complete one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from farense_tui.engine.runs.training_state import TrainingState


def latest_checkpoint(run_dir: Path) -> tuple[Path, TrainingState] | None:
    """The checkpoint training_state.json points at, if it is complete, with the run's record."""
    state = TrainingState.load(run_dir)
    if state is None or not state.checkpoint:
        return None
    folder = run_dir / "checkpoints" / state.checkpoint
    if not (folder / "optimizer.safetensors").exists():
        return None
    return folder, state


def clean_partial(run_dir: Path) -> None:
    for tmp in (run_dir / "checkpoints").glob(".tmp-step-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def adapter_choices(run_dir: Path) -> list[str]:
    """The adapters a run offers to chat with: 'best', 'final', then checkpoint steps, newest first."""
    out = [name for name in ("best", "final") if (run_dir / name / "adapters.safetensors").exists()]
    steps = sorted((p for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir()), reverse=True)
    return out + [p.name.removeprefix("step-").lstrip("0") or "0" for p in steps]
