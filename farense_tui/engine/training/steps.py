"""One optimizer step over its micro-batches, as two mx.compile'd functions.

Ours, not mlx-lm's compiled step, because that one lives inside its train(); the maths is the
same (mlx-lm's default_loss, gradients summed over `grad_accumulation` micro-batches, then
averaged and applied once).
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map
from mlx_lm.tuner.trainer import default_loss


class CompiledSteps:
    def __init__(self, model: nn.Module, optimizer: optim.Optimizer, grad_accumulation: int):
        loss_and_grad = nn.value_and_grad(model, default_loss)
        state = [model.state, optimizer.state, mx.random.state]
        add = partial(tree_map, lambda a, b: a + b)

        @partial(mx.compile, inputs=state, outputs=state)
        def accumulate(batch, lengths, prev):
            (loss, ntoks), grad = loss_and_grad(model, batch, lengths)
            return loss, ntoks, (grad if prev is None else add(grad, prev))

        @partial(mx.compile, inputs=state, outputs=state)
        def update(batch, lengths, prev):
            (loss, ntoks), grad = loss_and_grad(model, batch, lengths)
            if prev is not None:
                grad = add(grad, prev)
            if grad_accumulation > 1:
                grad = tree_map(lambda g: g / grad_accumulation, grad)
            optimizer.update(model, grad)
            return loss, ntoks

        self._accumulate, self._update, self._state = accumulate, update, state

    def run(self, micro_batches) -> tuple[float, int]:
        """Train one optimizer step: (mean loss over its micro-batches, target tokens trained)."""
        batches = list(micro_batches)
        grad, losses, ntoks = None, [], 0
        for i, (batch, lengths) in enumerate(batches):
            if i < len(batches) - 1:
                loss, toks, grad = self._accumulate(batch, lengths, grad)
                mx.eval(loss, toks, grad)
            else:
                loss, toks = self._update(batch, lengths, grad)
                mx.eval(self._state, loss, toks)
            losses.append(loss.item())
            ntoks += toks.item()
        return sum(losses) / len(losses), ntoks
