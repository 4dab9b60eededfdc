"""One optimizer step over its micro-batches, as two mx.compile'd functions.

Ours, not mlx-lm's compiled step, because that one lives inside its train() and averages
per-micro-batch means; here the gradients and losses of the micro-batches are summed and divided
once by the step's target tokens (token_loss.py), so any batch × accumulation split of a step
trains the same.
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

from farense_tui.engine.training.token_loss import per_token, summed_token_loss


class CompiledSteps:
    def __init__(self, model: nn.Module, optimizer: optim.Optimizer):
        loss_and_grad = nn.value_and_grad(model, summed_token_loss)
        state = [model.state, optimizer.state, mx.random.state]
        add = partial(tree_map, lambda a, b: a + b)

        @partial(mx.compile, inputs=state, outputs=state)
        def accumulate(batch, lengths, prev):
            (loss_sum, ntoks), grad = loss_and_grad(model, batch, lengths)
            return loss_sum, ntoks, (grad if prev is None else add(grad, prev))

        @partial(mx.compile, inputs=state, outputs=state)
        def update(batch, lengths, prev, prev_loss_sum, prev_ntoks):
            (loss_sum, ntoks), grad = loss_and_grad(model, batch, lengths)
            if prev is not None:
                grad = add(grad, prev)
            grad, loss = per_token(grad, loss_sum + prev_loss_sum, ntoks + prev_ntoks)
            optimizer.update(model, grad)
            return loss, ntoks + prev_ntoks

        self._accumulate, self._update, self._state = accumulate, update, state

    def run(self, micro_batches) -> tuple[float, int]:
        """Train one optimizer step: (loss per target token over the step, target tokens trained)."""
        batches = list(micro_batches)
        grad, loss_sum, ntoks = None, mx.array(0.0), mx.array(0)
        for batch, lengths in batches[:-1]:
            part_loss, part_toks, grad = self._accumulate(batch, lengths, grad)
            loss_sum, ntoks = loss_sum + part_loss, ntoks + part_toks
            mx.eval(loss_sum, ntoks, grad)
        loss, ntoks = self._update(*batches[-1], grad, loss_sum, ntoks)
        mx.eval(self._state, loss, ntoks)
        return loss.item(), ntoks.item()
