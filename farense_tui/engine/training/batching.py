"""Deterministic data order, written because mlx-lm's iterate_batches cannot resume mid-epoch.

Like mlx-lm we sort examples by length and cut them into groups (less padding), then shuffle the
groups each epoch. A group is one optimizer step's examples (the effective batch), split into
`grad_accumulation` micro-batches; so halving the batch and doubling accumulation (memory
recovery) trains on exactly the same examples per step, and the order is a pure function of
(seed, step): resuming needs nothing but the step number.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from farense_tui.engine.data.padding import padded_length
from farense_tui.engine.errors import UserError


class StepOrder:
    def __init__(self, lengths: list[int], effective_batch: int, seed: int):
        if len(lengths) < effective_batch:
            raise UserError(
                f"the train split has {len(lengths)} examples but one optimizer step needs "
                f"{effective_batch} (batch_size x grad_accumulation): lower them or add data"
            )
        by_length = sorted(range(len(lengths)), key=lambda i: lengths[i])
        self.groups = [
            by_length[i : i + effective_batch]
            for i in range(0, len(by_length) - effective_batch + 1, effective_batch)
        ]
        self.seed = seed

    @property
    def steps_per_epoch(self) -> int:
        return len(self.groups)

    def epoch_of(self, step: int) -> int:
        """Epoch (1-based) that optimizer step `step` (1-based) belongs to."""
        return (step - 1) // self.steps_per_epoch + 1

    def group_for(self, step: int) -> list[int]:
        epoch = self.epoch_of(step) - 1
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.steps_per_epoch)
        return self.groups[int(perm[(step - 1) % self.steps_per_epoch])]


def micro_batches(dataset, indices: list[int], batch_size: int, max_seq_length: int):
    """Yield (tokens[B, L], lengths[B, 2]) like mlx-lm's iterate_batches, for the given examples."""
    for start in range(0, len(indices), batch_size):
        items = [dataset[j] for j in indices[start : start + batch_size]]
        tokens = [t for t, _ in items]
        offsets = [o for _, o in items]
        lengths = [min(len(t), max_seq_length) for t in tokens]
        width = min(padded_length(max(lengths)), max_seq_length)
        arr = np.zeros((len(items), width), np.int32)
        for row, (toks, n) in enumerate(zip(tokens, lengths)):
            arr[row, :n] = toks[:n]
        yield mx.array(arr), mx.array(list(zip(offsets, lengths)))
