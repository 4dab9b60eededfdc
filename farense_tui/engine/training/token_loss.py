"""The loss of one optimizer step, normalised once by the step's own unmasked tokens.

mlx-lm's default_loss (and `mlx_lm lora` with grad_accumulation_steps) takes a mean per
micro-batch and then averages those means, so tokens in short micro-batches weigh more: halving
the batch and doubling accumulation (a memory downshift) changes the gradient. Here each
micro-batch gives the *sum* of its token losses and its token count; the step divides once by the
total. Any split of a step's examples, across micro-batches or across machines (sum the three
quantities over ranks before `per_token`), gives the same gradient within float tolerance.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map


def summed_token_loss(
    model: nn.Module, batch: mx.array, lengths: mx.array
) -> tuple[mx.array, mx.array]:
    """(sum of cross-entropy over the unmasked target tokens, their count) for one micro-batch.

    mlx-lm's default_loss without its division (same mask: target positions from the prompt
    offset to the example's length), so a micro-batch with no target tokens adds 0, not NaN.
    """
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    ce = nn.losses.cross_entropy(logits, targets) * mask
    return ce.astype(mx.float32).sum(), mask.sum()


def per_token(grad_sum, loss_sum: mx.array, ntoks: mx.array):
    """The step's gradient and loss: the micro-batch sums divided once by the step's tokens."""
    n = mx.maximum(ntoks, 1).astype(mx.float32)  # a step with no target tokens has a zero gradient
    return tree_map(lambda g: g / n, grad_sum), loss_sum / n
