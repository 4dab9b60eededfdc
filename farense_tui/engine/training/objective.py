"""The training objective: how examples become micro-batches and what a micro-batch's loss is,
the two things mlx-lm's train() takes as `iterate_batches` and `loss`. The trainer, the compiled
steps (steps.py) and validation use only this interface, so another objective (DPO, ORPO…) is one
new class with the same two methods; the step's normalisation (token_loss.per_token) stays shared.

A micro-batch is a tuple of arrays the objective builds and reads back; `loss` returns the sum of
its token losses and their count, never a mean.
"""

from __future__ import annotations

from typing import Iterator, Protocol

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from farense_tui.engine.training.batching import micro_batches
from farense_tui.engine.training.gathered_loss import (
    chunk_rows,
    target_cross_entropy,
    target_positions,
)
from farense_tui.engine.training.output_head import architecture, output_head
from farense_tui.engine.training.token_loss import summed_token_loss


class Objective(Protocol):
    warning: str | None  # said once in the run's events when the objective starts
    stats_size: int  # length of the statistics vector `loss` returns after the two sums; 0 for none

    def batches(
        self, dataset, indices: list[int], batch_size: int, max_seq_length: int
    ) -> Iterator[tuple]: ...

    def loss(
        self, model: nn.Module, *micro_batch: mx.array, grad: bool = True
    ) -> tuple[mx.array, ...]:
        """(loss sum, count it is divided by) and, when stats_size, a float32 statistics vector
        whose first entry is the target tokens: the step sums all three over micro-batches and
        ranks. grad=False (validation): no gradient will be taken, so none is prepared."""

    def input_tokens(self, dataset, indices: list[int], max_seq_length: int) -> int:
        """Tokens the step reads for these examples, prompts included, no padding: its work."""

    def metrics(self, stats: list[float], count: int) -> dict:
        """Event fields (step and eval events) from a step's or a split's summed statistics."""


class SupervisedObjective:
    """Next-token cross-entropy on the target tokens (the completion, or all under no masking).

    Micro-batches are (tokens, lengths, target positions); the loss takes the output head only at
    those positions (gathered_loss.py), or full logits for an architecture without a known head.
    """

    stats_size = 0

    def __init__(self, model: nn.Module, chunk: int | None = None):
        self.head = output_head(model)
        self.chunk = chunk or (chunk_rows(self.head.vocab) if self.head else 0)
        self.backward = "fused"  # gathered_loss.token_losses' choices (the bench compares them)
        self.warning = (
            None
            if self.head
            else (
                f"architecture {architecture(model)!r} has no known output head here: its loss "
                f"takes "
                "logits over the whole vocabulary at every position (more memory)"
            )
        )

    def batches(self, dataset, indices, batch_size, max_seq_length):
        for tokens, lengths in micro_batches(dataset, indices, batch_size, max_seq_length):
            yield self.micro_batch(tokens, lengths)

    def micro_batch(self, tokens: mx.array, lengths: mx.array) -> tuple:
        """One micro-batch from micro_batches' (tokens, lengths): the two and the target
        positions."""
        return (
            tokens,
            lengths,
            target_positions(np.array(lengths), tokens.shape[1], max(self.chunk, 1)),
        )

    def loss(self, model, tokens, lengths, positions, grad=True):
        if self.head is None:
            return summed_token_loss(model, tokens, lengths)
        ce = target_cross_entropy(
            model, self.head, self.chunk, tokens, positions, self.backward if grad else "none"
        )
        valid = positions >= 0
        return (ce * valid).sum(), valid.sum()  # as summed_token_loss: a sum and its count

    def input_tokens(self, dataset, indices, max_seq_length):
        return sum(min(len(dataset[i][0]), max_seq_length) for i in indices)

    def metrics(self, stats, count):
        return {}
