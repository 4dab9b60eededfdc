"""Fault injection from RunConfig.faults, for tests and drills: a real NaN loss, an abort the way a
Metal out-of-memory dies, and a checkpoint write that hangs long enough to be killed mid-way."""

from __future__ import annotations

import os

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from farense_tui.engine.runs.config import Faults

CHECKPOINT_HANG_SECONDS = 30.0


def before_step(faults: Faults, step: int, model: nn.Module) -> None:
    if step == faults.nan_at_step > 0:
        _poison_one_lora_weight(model)


def after_step(faults: Faults, step: int, restarts: int) -> None:
    if step == faults.abort_at_step > 0 and (restarts == 0 or not faults.abort_once):
        os.abort()


def checkpoint_hang(faults: Faults, step: int) -> float:
    """Seconds the checkpoint of `step` pauses between its adapter and its optimizer state."""
    return CHECKPOINT_HANG_SECONDS if step == faults.hang_in_checkpoint_at_step > 0 else 0.0


def _poison_one_lora_weight(model: nn.Module) -> None:
    name, weight = next((k, v) for k, v in tree_flatten(model.trainable_parameters()) if k.endswith("lora_b"))
    model.load_weights([(name, mx.full(weight.shape, float("nan"), weight.dtype))], strict=False)
