"""Each sequence's summed log-probability of its target tokens (the reply after the prompt), and
how many there are: what DPO and ORPO compare between a chosen and a rejected reply.

With a known output head it takes the head only at the target positions, one chunk after another
under `mx.checkpoint` (gathered_loss.chained_chunks, as the supervised loss does: no [rows, width,
vocab] logits); otherwise full logits, with the mask of token_loss.summed_token_loss.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from farense_tui.engine.training.gathered_loss import chained_chunks
from farense_tui.engine.training.output_head import Head


def gathered_sequence_logprobs(
    model: nn.Module, head: Head, chunk: int, batch: mx.array, positions: mx.array
):
    """([rows] summed log-probs, [rows] target counts) at gathered_loss.target_positions'
    positions."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    rows, width = targets.shape
    hidden = model.model(inputs)
    index = mx.maximum(positions, 0)
    states = hidden.reshape(-1, hidden.shape[-1])[index]
    wanted = targets.reshape(-1)[index]
    owner = mx.where(positions >= 0, index // width, -1)  # each position's row; -1 for the padding
    row_ids = mx.arange(rows)

    def chunk_logprobs(h, t, o):  # mx.checkpoint differentiates every input: not the integer ones
        ce = nn.losses.cross_entropy(head.apply(h), mx.stop_gradient(t)).astype(mx.float32)
        member = mx.stop_gradient(o)[None, :] == row_ids[:, None]
        return -(member * ce[None, :]).sum(axis=1)

    total = chained_chunks(
        head, chunk_logprobs, chunk, (states, wanted, owner), mx.zeros((rows,), mx.float32)
    )
    counts = (owner[None, :] == row_ids[:, None]).sum(axis=1)
    return total, counts


def full_sequence_logprobs(model: nn.Module, batch: mx.array, lengths: mx.array):
    """The same from logits over the whole vocabulary, for an architecture without a known head."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    steps = mx.arange(1, targets.shape[1] + 1)
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    logp = -nn.losses.cross_entropy(logits, targets).astype(mx.float32)
    return (logp * mask).sum(axis=1), mask.sum(axis=1)
