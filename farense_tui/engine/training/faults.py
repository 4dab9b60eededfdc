"""Fault injection for tests and drills, read only from the FARENSE_FAULTS environment variable
(JSON, e.g. '{"abort_at_step": 7}'), never from a run's files: a real NaN loss, an abort the way a
Metal out-of-memory dies, an MLX allocation error mid-step, and checkpoint writes slow enough to be
killed mid-way."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

FAULTS_ENV = "FARENSE_FAULTS"
METAL_OOM = (
    "[METAL] Command buffer execution failed: Insufficient Memory "
    "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory) (injected fault)"
)
CHECKPOINT_HANG_SECONDS = 30.0
HANG_SECONDS = 3600.0  # longer than any test's hang timeout: the supervisor must end it


@dataclass(frozen=True)
class Faults:
    """All off by default."""

    abort_at_step: int = 0  # Metal's out-of-memory message, then os.abort(), after this step
    abort_once: bool = True  # a restarted engine does not abort again (so recovery can be seen)
    nan_at_step: int = 0  # poison a LoRA weight before this step, giving a real NaN loss
    alloc_error_at_step: int = (
        0  # raise MLX's allocation error after this step's first micro-batch, once
    )
    hang_in_checkpoint_at_step: int = 0  # sleep halfway through writing this checkpoint
    checkpoint_pause: float = (
        0.0  # seconds slept at each stage of every checkpoint write (kill soak)
    )
    # data-parallel: rank 1 (or `rank`) stops answering after this step, once (a hung all_sum)
    hang_at_step: int = 0
    rank: int = -1  # data-parallel: the one rank the step faults happen on; -1 every rank

    @classmethod
    def from_env(cls) -> Faults:
        raw = os.environ.get(FAULTS_ENV, "")
        values = json.loads(raw) if raw else {}
        if bad := set(values) - {f.name for f in fields(cls)}:
            raise ValueError(f"{FAULTS_ENV}: unknown fault(s) {', '.join(sorted(bad))}")
        return cls(**values)


def _here(faults: Faults, rank: int, default: int = -1) -> bool:
    """Whether a fault meant for `faults.rank` (else `default`; -1 every rank) happens on this
    rank."""
    meant = faults.rank if faults.rank >= 0 else default
    return meant < 0 or meant == rank


def before_step(faults: Faults, step: int, model: nn.Module, rank: int = 0) -> None:
    if step == faults.nan_at_step > 0 and _here(faults, rank):
        _poison_one_lora_weight(model)


def after_step(faults: Faults, step: int, restarts: int, rank: int = 0) -> None:
    if step == faults.hang_at_step > 0 and restarts == 0 and _here(faults, rank, default=1):
        time.sleep(HANG_SECONDS)
    if not _here(faults, rank):
        return
    if step == faults.abort_at_step > 0 and (restarts == 0 or not faults.abort_once):
        print(METAL_OOM, file=sys.stderr, flush=True)
        os.abort()


def mid_step(
    faults: Faults, step: int, restarts: int, micro_batches: Iterable, rank: int = 0
) -> Iterator:
    """The step's micro-batches; at the faulty step MLX's allocation error once the first has
    trained."""
    batches = iter(micro_batches)
    first = next(batches, None)
    if first is None:  # a rank with no share of this step
        return
    yield first
    if step == faults.alloc_error_at_step > 0 and restarts == 0 and _here(faults, rank):
        raise RuntimeError("[metal::malloc] Unable to allocate 1073741824 bytes (injected fault)")
    yield from batches


def checkpoint_pause(faults: Faults, step: int) -> Callable[[str], None]:
    """What a checkpoint write of `step` calls between its stages: sleeps where a kill should
    land."""
    hang = CHECKPOINT_HANG_SECONDS if step == faults.hang_in_checkpoint_at_step > 0 else 0.0

    def pause(stage: str) -> None:
        seconds = faults.checkpoint_pause + (hang if stage == "adapter written" else 0.0)
        if seconds:
            time.sleep(seconds)

    return pause


def _poison_one_lora_weight(model: nn.Module) -> None:
    name, weight = next(
        (k, v) for k, v in tree_flatten(model.trainable_parameters()) if k.endswith("lora_b")
    )
    model.load_weights([(name, mx.full(weight.shape, float("nan"), weight.dtype))], strict=False)
