"""Cross-entropy at the target positions only, in chunks, so the logits of a micro-batch never
exist whole: the body's hidden states are gathered at the targets, and each chunk of them goes
through the output head and cross-entropy, one chunk after another; in training each chunk's
gradient with respect to its hidden states is taken in the forward pass and its logits freed
(Liger's fused linear cross-entropy; Apple's cut cross-entropy is the same idea; written here
because MLX and mlx-lm have neither).

The positions are found on the host and padded (with -1, masked out) to a few bucket sizes, so
`mx.compile` sees a handful of shapes per batch width rather than one per step.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from farense_tui.engine.training.output_head import Head

# Logits per chunk: 16 MB of float32, whatever the vocabulary. On the demo (pydoc, 4 x 512) 64
# positions peaked 1.751 GB against 1.906 at 128, for 2 % fewer tokens/s (BENCHMARKS.md).
CHUNK_ELEMENTS = 1 << 22


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


def target_cross_entropy(
    model: nn.Module,
    head: Head,
    chunk: int,
    batch: mx.array,
    positions: mx.array,
    backward: str = "fused",
) -> mx.array:
    """Cross-entropy [n] at each flat target position of target_positions (the -1 padding's too,
    at position 0: callers mask it out); `backward` as token_losses takes it."""
    inputs, targets = batch[:, :-1], batch[:, 1:]
    hidden = model.model(inputs)
    index = mx.maximum(positions, 0)
    states = hidden.reshape(-1, hidden.shape[-1])[index]
    wanted = targets.reshape(-1)[index]
    return chained_chunks(token_losses(head, backward), chunk, states, wanted)


def token_losses(head: Head, backward: str = "fused"):
    """(hidden states [n, d], targets [n]) → float32 cross-entropy [n] through the head, with the
    backward pass `backward` asks for:

    - "fused": the gradient with respect to the states is taken in the forward pass, chunk by
      chunk, and kept ([n, d], small); backward only scales it (Liger's fused linear
      cross-entropy). Two head matmuls per chunk, as full logits, and the chunk's logits are freed
      at once. Only for a frozen head: its weights get no gradient here.
    - "recompute": each chunk under mx.checkpoint, its logits recomputed in backward (three
      matmuls); a trainable head gets this.
    - "keep": every chunk's logits kept for backward (the bench's comparison).
    - "none": no gradient wanted (validation, reference log-probs): the forward pass alone.
    """

    def plain(h, t):
        return nn.losses.cross_entropy(head.apply(h), t).astype(mx.float32)

    if backward in ("keep", "none"):
        return plain
    if backward == "recompute" or tree_flatten(head.module.trainable_parameters()):
        # mx.checkpoint differentiates every input: not the integer targets
        return nn.utils.checkpoint(head.module, lambda h, t: plain(h, mx.stop_gradient(t)))

    @mx.custom_function
    def fused(h, t):
        (ce,), (grad,) = mx.vjp(lambda h: [plain(h, t)], [h], [mx.ones(t.shape, mx.float32)])
        return ce, grad  # each ce depends on its own row of h only: grad holds d ce_i / d h_i

    @fused.vjp
    def fused_vjp(primals, cotangents, outputs):
        grad = outputs[1]
        return grad * cotangents[0][:, None].astype(grad.dtype), mx.zeros_like(primals[1])

    return lambda h, t: fused(h, t)[0]


def chained_chunks(fn, chunk: int, states: mx.array, wanted: mx.array) -> mx.array:
    """fn(states, wanted) → [n] computed `chunk` rows at a time, one chunk after another (forward
    and backward)."""
    parts = []
    for start in range(0, states.shape[0], chunk):
        h = states[start : start + chunk]
        # `+ 0 × the chunk before` (the same values) makes each chunk wait for the one before it:
        # without it MLX evaluated the independent chunks side by side and held all their logits
        # at once (BENCHMARKS: "one chunk after another").
        if parts:
            h = h + (parts[-1].sum() * 0).astype(h.dtype)
        parts.append(fn(h, wanted[start : start + chunk]))
    return mx.concatenate(parts)
