"""Exact resume: the newest complete checkpoint's adapter and optimizer state back into a fresh
setup.

Ours because mlx-lm's --resume-adapter-file reloads weights only (step and schedule restart);
with the optimizer state, the step (the data order and RNG derive from it) and the record, a
resumed run trains the same losses as one never interrupted.
"""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx

from farense_tui.engine.runs import checkpoints
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.run_folder import ADAPTER_WEIGHTS, RunFolder
from farense_tui.engine.runs.training_state import TrainingState
from farense_tui.engine.training.checkpoint_writer import load_optimizer_state
from farense_tui.engine.training.setup import TrainingSetup


def restore(
    run_dir: Path, cfg: RunConfig, setup: TrainingSetup, events: EventWriter, clean: bool = True
) -> TrainingState | None:
    """Load the checkpoint into setup's model and optimizer; its record, or None for a fresh start.

    A half-written checkpoint (a kill mid-write) is removed; its predecessor is the one resumed.
    A run that had trained but has no complete checkpoint left says so before starting from 0.
    Only the writing rank cleans (`clean`), so ranks sharing the folder never race on it.
    """
    if clean:
        checkpoints.clean_partial(run_dir)
    found = checkpoints.latest_checkpoint(run_dir)
    if found is None:
        record = TrainingState.load(run_dir)
        if record is not None and record.step > 0:
            events.emit(
                "warning",
                kind="resume",
                message=(
                    f"training had reached step {record.step} but no complete checkpoint is left "
                    f"in "
                    f"{RunFolder(run_dir).checkpoints}: starting again from step 0"
                ),
            )
        return None
    folder, state = found
    checkpoints.check_resumable(run_dir, cfg, state)
    setup.model.load_weights(str(folder / ADAPTER_WEIGHTS), strict=False)
    setup.optimizer.state = load_optimizer_state(folder)["optimizer"]
    mx.eval(setup.model.parameters(), setup.optimizer.state)
    return state
