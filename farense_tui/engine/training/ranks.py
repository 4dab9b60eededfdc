"""This engine process's place among data-parallel ranks, through MLX's distributed engine.

Started by `mlx.launch` (runs/launch.py), `mx.distributed.init()` joins the group; alone, it is a
group of one and every method is the single-machine path. Each step's micro-batches are dealt
round-robin, so the step's examples are those of one machine; the ranks' summed gradients, losses
and token counts are added with one all_sum (one flat buffer, so one ring round per step, as
mlx.nn.average_gradients batches them) before the step's single division (token_loss.py).
"""

from __future__ import annotations

from itertools import islice

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

PEER_LOST = (
    "connection to a peer was lost"  # the ring backend's error when another rank's process ends
)


class Ranks:
    def __init__(self):
        self.group = mx.distributed.init()
        self.rank, self.size = self.group.rank(), self.group.size()

    @property
    def writer(self) -> bool:
        """Rank 0 alone writes events, checkpoints and adapters."""
        return self.rank == 0

    def lost_peer(self, exc: RuntimeError) -> bool:
        """A collective failed because another rank is gone (its own death is diagnosed, not this
        one)."""
        return self.size > 1 and PEER_LOST in str(exc)

    def share(self, micro_batches):
        """This rank's micro-batches of the step: every size-th one, from its rank on."""
        return islice(micro_batches, self.rank, None, self.size)

    def sum(
        self, grad: dict, loss_sum: mx.array, ntoks: mx.array
    ) -> tuple[dict, mx.array, mx.array]:
        """The step's (gradient sum, loss sum, token count) over all ranks."""
        if self.size == 1:
            return grad, loss_sum, ntoks
        flat = tree_flatten(grad)
        parts = [g.astype(mx.float32).reshape(-1) for _, g in flat]
        # Token counts ride as float32: exact below 2**24 tokens per step.
        parts += [loss_sum.astype(mx.float32).reshape(1), ntoks.astype(mx.float32).reshape(1)]
        total = mx.distributed.all_sum(mx.concatenate(parts), group=self.group)
        out, at = [], 0
        for name, g in flat:
            out.append((name, total[at : at + g.size].reshape(g.shape).astype(g.dtype)))
            at += g.size
        return tree_unflatten(out), total[at], total[at + 1].astype(ntoks.dtype)

    def total(self, values: mx.array) -> mx.array:
        """An objective's statistics vector summed over ranks."""
        if self.size == 1:
            return values
        return mx.distributed.all_sum(values.astype(mx.float32), group=self.group)

    def gather(self, values: list[float]) -> list[list[float]]:
        """Each rank's `values`, by rank (the same list on every rank)."""
        if self.size == 1:
            return [values]
        rows = mx.distributed.all_gather(mx.array([values], dtype=mx.float32), group=self.group)
        return rows.tolist()
