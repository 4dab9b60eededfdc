"""DPO's reference: each pair's log-probabilities under the model the run starts from, computed
once, before any step, and kept in the run folder.

Why precomputed rather than the adapter switched off at every step: the reference is then the
starting policy exactly — the base for a fresh LoRA (B = 0), the parent's adapter for `train --from`
(the SFT model DPO is meant to start from), and a DoRA run's too (its magnitudes make "scale 0"
differ from the base) — it costs one forward pass over the data instead of one per step, holds
two floats per pair in memory instead of a second model or graph, and a resume (or a downshift to
a smaller batch) reads back the same bits, so its losses are the uninterrupted run's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import mlx.core as mx
import numpy as np

from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.training.objective import Objective, SupervisedObjective
from farense_tui.engine.training.preference_objective import DPOObjective, ORPOObjective

REFERENCE_FILE = "reference_logprobs.safetensors"
SPLITS = ("train", "valid")


def build_objective(
    cfg: RunConfig, setup, run_dir: Path, events: EventWriter, writer: bool = True
) -> Objective:
    """The run's objective. Called before a checkpoint is restored: DPO's reference is the model
    as built (base + LoRA at its start), whatever step the run resumes at."""
    p = cfg.profile
    if p.objective == "sft":
        return SupervisedObjective(setup.model)
    if p.objective == "orpo":
        return ORPOObjective(setup.model, p.beta)
    objective = DPOObjective(setup.model, p.beta)
    attach_reference(objective, setup, cfg, run_dir, events, writer)
    return objective


def attach_reference(
    objective: DPOObjective, setup, cfg: RunConfig, run_dir: Path, events: EventWriter, writer: bool
) -> None:
    """Each split's reference log-probs into `dataset.reference`: from the run's file when it was
    written for this run's training settings and data, else computed now (and written by rank 0)."""
    path = run_dir / REFERENCE_FILE
    datasets = {"train": setup.train_set, "valid": setup.valid_set}
    saved = _read(path, cfg.training_hash(), {name: len(d) for name, d in datasets.items()})
    if saved is not None:
        for name, dataset in datasets.items():
            dataset.reference = saved[name]
        events.emit(
            "note",
            kind="objective",
            message=f"DPO reference log-probabilities read from {REFERENCE_FILE}",
        )
        return
    tic = time.perf_counter()
    for dataset in datasets.values():
        dataset.reference = reference_logprobs(
            objective, setup.model, dataset, cfg.profile.batch_size, cfg.profile.max_seq_length
        )
    if writer:
        _write(path, {name: d.reference for name, d in datasets.items()}, cfg.training_hash())
    events.emit(
        "note",
        kind="objective",
        message=(
            f"DPO reference: the starting model's log-probabilities of {len(setup.train_set)} "
            f"train and "
            f"{len(setup.valid_set)} valid pairs, computed in {time.perf_counter() - tic:.1f} s "
            f"(kept in {REFERENCE_FILE})"
        ),
    )


def reference_logprobs(
    objective, model, dataset, batch_size: int, max_seq_length: int
) -> np.ndarray:
    """[pairs, 2] summed reply log-probs (chosen, rejected) by the model as it is, without
    dropout."""
    model.eval()
    out = np.zeros((len(dataset), 2), np.float32)
    order = sorted(range(len(dataset)), key=dataset.length)
    for start in range(0, len(order), batch_size):
        part = order[start : start + batch_size]
        logp, _ = objective.logprobs(
            model, *objective.pair_batch(dataset, part, max_seq_length), grad=False
        )
        logp = np.array(mx.stop_gradient(logp))
        out[part, 0], out[part, 1] = logp[: len(part)], logp[len(part) :]
    model.train()
    return out


def _read(path: Path, training_hash: str, sizes: dict[str, int]) -> dict[str, np.ndarray] | None:
    try:
        arrays, metadata = mx.load(str(path), return_metadata=True)
    except (OSError, ValueError, RuntimeError):
        return None
    if metadata.get("training_hash") != training_hash:
        return None
    if any(name not in arrays or arrays[name].shape != (n, 2) for name, n in sizes.items()):
        return None
    return {name: np.array(arrays[name]) for name in sizes}


def _write(path: Path, arrays: dict[str, np.ndarray], training_hash: str) -> None:
    tmp = path.with_name(
        f".{path.stem}.tmp.safetensors"
    )  # whole or absent: a kill mid-write leaves no half file
    mx.save_safetensors(
        str(tmp),
        {k: mx.array(v) for k, v in arrays.items()},
        metadata={"training_hash": training_hash},
    )
    os.replace(tmp, path)
