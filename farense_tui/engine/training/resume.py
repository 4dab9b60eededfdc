"""Exact resume: the newest complete checkpoint's adapter and optimizer state back into a fresh setup.

Ours because mlx-lm's --resume-adapter-file reloads weights only (step and schedule restart);
with the optimizer state, the step (the data order and RNG derive from it) and the record, a
resumed run trains the same losses as one never interrupted.
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from farense_tui.engine.errors import UserError
from farense_tui.engine.runs import checkpoints
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.training_state import RUN_FILE, TrainingState
from farense_tui.engine.training.checkpoint_writer import load_optimizer_state
from farense_tui.engine.training.setup import TrainingSetup


def restore(run_dir: Path, cfg: RunConfig, setup: TrainingSetup) -> TrainingState | None:
    """Load the checkpoint into setup's model and optimizer; its record, or None for a fresh start.

    A half-written checkpoint (a kill mid-write) is removed; its predecessor is the one resumed.
    """
    found = checkpoints.latest_checkpoint(run_dir)
    checkpoints.clean_partial(run_dir)
    if found is None:
        return None
    folder, state = found
    if state.config_hash != cfg.training_hash():
        raise UserError(
            f"{run_dir / RUN_FILE}: the checkpoint was trained with other settings "
            "(model, data, schedule, LoRA shape or effective batch changed); start a new run instead"
        )
    setup.model.load_weights(str(folder / "adapters.safetensors"), strict=False)
    setup.optimizer.state = load_optimizer_state(folder)["optimizer"]
    mx.eval(setup.model.parameters(), setup.optimizer.state)
    return state
