"""Checkpoints on disk, read without MLX: the one to resume from, and the adapters a run offers.

Written by the engine (training/checkpoint_writer.py). A checkpoint is a folder
checkpoints/step-NNNNNNN/ with the adapter in mlx-lm's format (adapters.safetensors +
adapter_config.json), optimizer.safetensors and state.json; runs/<id>/training_state.json points
at the newest complete one. A kill can leave that pointer behind (between the folder's rename and
the record's) or a folder moved aside (.old-step-N, a same-step save): the newest complete folder
is the one resumed, never nothing while a complete one is there.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.training_state import CHECKPOINT_FILE, RUN_FILE, TrainingState

COMPLETE = ("adapters.safetensors", "adapter_config.json", "optimizer.safetensors", CHECKPOINT_FILE)


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in COMPLETE)


def _step_of(folder: Path) -> int:
    return int(folder.name.rsplit("-", 1)[1])


def latest_checkpoint(run_dir: Path) -> tuple[Path, TrainingState] | None:
    """The newest complete checkpoint with the run's record as of that checkpoint (its state.json,
    with the failures the run's training_state.json has recorded since)."""
    ckpts = run_dir / "checkpoints"
    candidates = [p for p in ckpts.glob("step-*") if _complete(p)]
    names = {p.name for p in candidates}
    candidates += [p for p in ckpts.glob(".old-step-*") if p.name.removeprefix(".old-") not in names and _complete(p)]
    for folder in sorted(candidates, key=_step_of, reverse=True):
        saved = TrainingState.from_file(folder / CHECKPOINT_FILE)
        if saved is None:
            continue
        run_record = TrainingState.load(run_dir)
        failures = run_record.failures if run_record else saved.failures
        return folder, replace(saved, checkpoint=folder.name.removeprefix(".old-"), failures=failures)
    return None


def clean_partial(run_dir: Path) -> None:
    """Remove half-written folders; put back a whole folder that a kill left moved aside."""
    ckpts = run_dir / "checkpoints"
    for tmp in ckpts.glob(".tmp-step-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for old in ckpts.glob(".old-step-*"):
        final = ckpts / old.name.removeprefix(".old-")
        if not final.exists() and _complete(old):
            old.rename(final)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for name in ("best", "final"):  # the same gap when a better adapter replaces the best one
        old = run_dir / f".old-{name}"
        if old.exists() and not (run_dir / name).exists():
            old.rename(run_dir / name)
        shutil.rmtree(run_dir / f".tmp-{name}", ignore_errors=True)


def is_model_folder(folder: Path) -> bool:
    """A full fine-tune's best or final: a whole model (mlx-lm's save_model layout), not an adapter."""
    return (folder / "model.safetensors.index.json").is_file() and (folder / "config.json").is_file()


def adapter_choices(run_dir: Path) -> list[str]:
    """The adapters (a full fine-tune's: models) a run offers to chat with: 'best', 'final', then
    checkpoint steps, newest first."""
    out = [name for name in ("best", "final")
           if (run_dir / name / "adapters.safetensors").exists() or is_model_folder(run_dir / name)]
    steps = sorted((p for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir()), reverse=True)
    return out + [p.name.removeprefix("step-").lstrip("0") or "0" for p in steps]


def check_resumable(run_dir: Path, cfg: RunConfig, state: TrainingState) -> None:
    """Raise a UserError naming what changed when `cfg` cannot continue `state`'s checkpoint exactly."""
    changed = cfg.resume_mismatch(state.training_key, state.config_hash)
    if changed:
        raise UserError(
            f"{run_dir / RUN_FILE}: cannot resume from {state.checkpoint} exactly, the run's settings "
            f"changed since it was saved: {changed}. Undo the change, or start a new run"
        )
