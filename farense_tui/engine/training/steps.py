"""One optimizer step over its micro-batches, as two mx.compile'd functions.

Ours, not mlx-lm's compiled step, because that one lives inside its train() and averages
per-micro-batch means; here each micro-batch adds its summed gradient, loss and target tokens,
and the update divides once by the step's tokens (token_loss.py), so any batch × accumulation
split of a step trains the same. Data-parallel ranks all_sum the three before `apply` (ranks.py).
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

from farense_tui.engine.training.objective import Objective
from farense_tui.engine.training.ranks import Ranks
from farense_tui.engine.training.token_loss import per_token


class CompiledSteps:
    def __init__(
        self, model: nn.Module, optimizer: optim.Optimizer, ranks: Ranks, objective: Objective
    ):
        self.model, self.ranks = model, ranks
        loss_and_grad = nn.value_and_grad(model, objective.loss)
        # The optimizer's moments would appear at its first update, changing the compiled functions'
        # input structure: both would trace again at step 2. Made now (zeros, as the first update
        # makes them; a resumed state is kept), the structure is final from step 1.
        optimizer.init(model.trainable_parameters())
        state = [model.state, optimizer.state, mx.random.state]
        add = partial(tree_map, lambda a, b: a + b)

        @partial(mx.compile, inputs=state, outputs=state)
        def accumulate(micro_batch, grad_sum, sums):
            values, grad = loss_and_grad(model, *micro_batch)  # (loss sum, count[, statistics])
            return (grad if grad_sum is None else add(grad, grad_sum)), add(tuple(values), sums)

        @partial(mx.compile, inputs=state, outputs=state)
        def apply(grad_sum, loss_sum, count):
            grad, loss = per_token(grad_sum, loss_sum, count)
            optimizer.update(model, grad)
            return loss

        self._accumulate, self._apply, self._state = accumulate, apply, state
        self.stats_size = objective.stats_size
        self.count, self.stats = 0, []  # the last step's count and summed statistics (all ranks)

    def run(self, micro_batches) -> tuple[float, int, int]:
        """Train one optimizer step on this rank's micro-batches: (loss per counted unit over the
        step, target tokens trained over all ranks, target tokens trained here). The units are
        target tokens, or pairs for an objective with statistics (whose first entry is the tokens).

        Micro-batches are drawn one at a time, so only one is in memory."""
        grad = None
        sums = (
            mx.array(0.0),
            mx.array(0),
            *([mx.zeros((self.stats_size,))] if self.stats_size else []),
        )
        for micro_batch in micro_batches:
            grad, sums = self._accumulate(micro_batch, grad, sums)
            mx.eval(grad, sums)
        loss_sum, count, *stats = sums
        local = int(stats[0][0].item() if stats else count.item())
        if grad is None:  # more ranks than micro-batches: this one adds nothing to the sums
            grad = tree_map(mx.zeros_like, self.model.trainable_parameters())
        grad, loss_sum, count = self.ranks.sum(grad, loss_sum, count)
        loss = self._apply(grad, loss_sum, count)
        mx.eval(self._state, loss)
        self.count, self.stats = count.item(), self.ranks.total(stats[0]).tolist() if stats else []
        return loss.item(), int(self.stats[0]) if stats else self.count, local
