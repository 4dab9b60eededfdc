"""Validation loss over a whole split, per target token, with the training step's token sums.

Ours, not mlx-lm's evaluate(), because that one drops the last partial batch: with 30 valid
examples and batch 4 it would score 28.
"""

from __future__ import annotations

import mlx.core as mx

from farense_tui.engine.training.objective import Objective, SupervisedObjective


def validation_loss(
    model,
    dataset,
    batch_size: int,
    max_seq_length: int,
    max_batches: int = -1,
    objective: Objective | None = None,
    metrics: dict | None = None,
) -> float:
    """Mean loss per target token (per pair for a preference objective) over the split (or its first
    `max_batches` batches by length), by the training run's objective (the supervised one when none
    is given: an evaluation job's); the objective's metrics over the split go into `metrics`."""
    objective = objective or SupervisedObjective(model)
    model.eval()
    order = sorted(range(len(dataset)), key=lambda i: len(dataset[i][0]))
    if max_batches > 0:
        order = order[: max_batches * batch_size]
    sums = None
    for micro_batch in objective.batches(dataset, order, batch_size, max_seq_length):
        values = objective.loss(model, *micro_batch, grad=False)
        sums = values if sums is None else tuple(a + b for a, b in zip(values, sums))
        mx.eval(sums)
    if sums is None:
        return 0.0
    if metrics is not None and len(sums) > 2:
        metrics.update(objective.metrics(sums[2].tolist(), sums[1].item()))
    return (sums[0] / mx.maximum(sums[1], 1)).item()
