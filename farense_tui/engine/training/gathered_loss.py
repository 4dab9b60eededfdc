"""Cross-entropy at the target positions only, in chunks, so the logits of a micro-batch never
exist whole: the body's hidden states are gathered at the targets, and each chunk of them goes
through the output head and cross-entropy inside `mx.checkpoint`, so the backward pass recomputes
one chunk's logits at a time instead of keeping them all (the idea of Apple's cut cross-entropy
and Liger's fused linear cross-entropy, written here because MLX and mlx-lm have neither).

The positions are found on the host and padded (with -1, masked out) to a few bucket sizes, so
`mx.compile` sees a handful of shapes per batch width rather than one per step.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from farense_tui.engine.training.output_head import Head

CHUNK_ELEMENTS = 1 << 23  # logits per chunk: 32 MB of float32, whatever the vocabulary


def chunk_rows(vocab: int) -> int:
    """Positions per chunk: a power of two with CHUNK_ELEMENTS logits or fewer, 16..1024."""
    return 1 << max(4, min(10, int(math.log2(max(CHUNK_ELEMENTS // vocab, 1)))))


def target_positions(lengths: np.ndarray, width: int, chunk: int) -> mx.array:
    """Flat indices into the [B, width-1] targets where summed_token_loss's mask is true, padded
    with -1 to `chunk` × (a power of two, or 3/4 of one): at most a third wasted, few shapes."""
    steps = np.arange(1, width)
    mask = (steps >= lengths[:, 0:1]) & (steps <= lengths[:, 1:])
    found = np.flatnonzero(mask).astype(np.int32)
    chunks = max(1, -(-len(found) // chunk))
    bucket = 1 << (chunks - 1).bit_length()
    if bucket >= 4 and bucket * 3 // 4 >= chunks:
        bucket = bucket * 3 // 4
    padded = np.full(bucket * chunk, -1, np.int32)
    padded[: len(found)] = found
    return mx.array(padded)


def gathered_token_loss(
    model: nn.Module,
    head: Head,
    chunk: int,
    batch: mx.array,
    positions: mx.array,
    checkpoint: bool = True,
):
    """(sum of cross-entropy over the target positions, their count), as summed_token_loss."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    hidden = model.model(inputs)
    valid = positions >= 0
    index = mx.maximum(positions, 0)
    states = hidden.reshape(-1, hidden.shape[-1])[index]
    wanted = targets.reshape(-1)[index]

    def chunk_loss(h, t, v):  # mx.checkpoint differentiates every input: not the integer targets
        ce = nn.losses.cross_entropy(head.apply(h), mx.stop_gradient(t))
        return (ce * mx.stop_gradient(v)).astype(mx.float32).sum()

    total = chained_chunks(
        head, chunk_loss, chunk, (states, wanted, valid), mx.array(0.0), checkpoint
    )
    return total, valid.sum()


def chained_chunks(head: Head, fn, chunk: int, parts: tuple, total: mx.array, checkpoint=True):
    """`total` plus the sum of fn(*(p[chunk] for p in parts)) over the chunks of the parts' first
    axis, taken one chunk after another (forward and backward), each under mx.checkpoint."""
    checkpointed = nn.utils.checkpoint(head.module, fn) if checkpoint else fn
    for start in range(0, parts[0].shape[0], chunk):
        h, *rest = (p[start : start + chunk] for p in parts)
        # `+ 0 × total` (the same values) makes each chunk wait for the one before it, forward and
        # backward: without it MLX evaluated the independent chunks side by side and held all their
        # logits at once (BENCHMARKS: "one chunk after another").
        if start:
            h = h + (total.sum() * 0).astype(h.dtype)
        total = total + checkpointed(h, *rest)
    return total
