"""Validation loss over a whole split, per target token, with the training step's token sums.

Ours, not mlx-lm's evaluate(), because that one drops the last partial batch: with 30 valid
examples and batch 4 it would score 28.
"""

from __future__ import annotations

import mlx.core as mx

from farense_tui.engine.training.objective import Objective, SupervisedObjective


def validation_loss(
    model, dataset, batch_size: int, max_seq_length: int, max_batches: int = -1, objective: Objective | None = None
) -> float:
    """Mean loss per target token over the split (or its first `max_batches` batches by length),
    by the training run's objective (the supervised one when none is given: an evaluation job's)."""
    objective = objective or SupervisedObjective(model)
    model.eval()
    order = sorted(range(len(dataset)), key=lambda i: len(dataset[i][0]))
    if max_batches > 0:
        order = order[: max_batches * batch_size]
    total, tokens = mx.array(0.0), mx.array(0)
    for micro_batch in objective.batches(dataset, order, batch_size, max_seq_length):
        loss_sum, ntoks = objective.loss(model, *micro_batch)
        total, tokens = total + loss_sum, tokens + ntoks
        mx.eval(total, tokens)
    return (total / mx.maximum(tokens, 1)).item()
