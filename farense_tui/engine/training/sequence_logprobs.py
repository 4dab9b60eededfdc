"""Each sequence's summed log-probability of its target tokens (the reply after the prompt), and
how many there are: what DPO and ORPO compare between a chosen and a rejected reply.

With a known output head it takes the head only at the target positions, one chunk after another
(gathered_loss.py's, as the supervised loss: no [rows, width, vocab] logits); otherwise full
logits, with the mask of token_loss.summed_token_loss.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from farense_tui.engine.training.gathered_loss import target_cross_entropy
from farense_tui.engine.training.output_head import Head


def gathered_sequence_logprobs(
    model: nn.Module,
    head: Head,
    chunk: int,
    batch: mx.array,
    positions: mx.array,
    backward: str = "fused",
):
    """([rows] summed log-probs, [rows] target counts) at gathered_loss.target_positions'
    positions; `backward` as gathered_loss.token_losses takes it."""
    rows, width = batch.shape[0], batch.shape[1] - 1
    ce = target_cross_entropy(model, head, chunk, batch, positions, backward)
    owner = mx.where(positions >= 0, mx.maximum(positions, 0) // width, -1)  # -1: padding
    member = owner[None, :] == mx.arange(rows)[:, None]
    return -(member * ce[None, :]).sum(axis=1), member.sum(axis=1)


def full_sequence_logprobs(model: nn.Module, batch: mx.array, lengths: mx.array):
    """The same from logits over the whole vocabulary, for an architecture without a known head."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    logp = -nn.losses.cross_entropy(logits, targets).astype(mx.float32)
    return (logp * mask).sum(axis=1), mask.sum(axis=1)
