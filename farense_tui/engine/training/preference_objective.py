"""Preference objectives on the training-objective seam (objective.py): DPO and ORPO.

A micro-batch holds b pairs as 2b rows, the chosen replies first, then the rejected ones in the
same order (one forward pass for both); the prompt is masked, so each row's score is the summed
log-probability of its reply's tokens (sequence_logprobs.py). The loss returns the sum of the
pairs' losses and the number of pairs, so the step's single division (token_loss.per_token) makes
it a mean per pair under any batch × accumulation split or number of ranks, plus a statistics
vector [reply tokens, Σ chosen reward, Σ rejected reward, pairs with chosen reward > rejected]
summed the same way: the step's and validation's reward, margin and accuracy (`metrics`).
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from farense_tui.engine.training.batching import micro_batches
from farense_tui.engine.training.gathered_loss import chunk_rows, target_positions
from farense_tui.engine.training.output_head import architecture, output_head
from farense_tui.engine.training.sequence_logprobs import (
    full_sequence_logprobs,
    gathered_sequence_logprobs,
)

STATS = ("tokens", "chosen", "rejected", "right")


class PreferenceObjective:
    stats_size = len(STATS)

    def __init__(self, model: nn.Module, beta: float, chunk: int | None = None):
        self.beta = beta
        self.backward = "fused"  # gathered_loss.token_losses' choices
        self.head = output_head(model)
        self.chunk = chunk or (chunk_rows(self.head.vocab) if self.head else 0)
        self.warning = (
            None
            if self.head
            else (
                f"architecture {architecture(model)!r} has no known output head here: its "
                f"log-probabilities "
                "take logits over the whole vocabulary at every position (more memory)"
            )
        )

    def batches(self, dataset, indices, batch_size, max_seq_length):
        for start in range(0, len(indices), batch_size):
            part = list(indices[start : start + batch_size])
            yield (*self.pair_batch(dataset, part, max_seq_length), *self.extra(dataset, part))

    def pair_batch(self, dataset, part: list[int], max_seq_length: int) -> tuple:
        """(tokens [2b, L], lengths [2b, 2], target positions) of pairs `part`: chosen rows, then
        rejected."""
        pairs = [dataset[i] for i in part]
        rows = [(p.chosen, p.chosen_offset) for p in pairs] + [
            (p.rejected, p.rejected_offset) for p in pairs
        ]
        tokens, lengths = next(micro_batches(rows, range(len(rows)), len(rows), max_seq_length))
        return (
            tokens,
            lengths,
            target_positions(np.array(lengths), tokens.shape[1], max(self.chunk, 1)),
        )

    def extra(self, dataset, part: list[int]) -> tuple:
        return ()

    def logprobs(self, model, tokens, lengths, positions, grad=True):
        """([2b] summed reply log-probs, [2b] reply token counts)."""
        if self.head is None:
            return full_sequence_logprobs(model, tokens, lengths)
        return gathered_sequence_logprobs(
            model, self.head, self.chunk, tokens, positions, self.backward if grad else "none"
        )

    def input_tokens(self, dataset, indices, max_seq_length: int) -> int:
        """Both replies' tokens, prompts included, as the step reads them."""
        return sum(
            min(len(side), max_seq_length)
            for i in indices
            for side in (dataset[i].chosen, dataset[i].rejected)
        )

    @staticmethod
    def _stats(counts, chosen, rejected) -> mx.array:
        return mx.stop_gradient(
            mx.stack(
                [
                    counts.sum().astype(mx.float32),
                    chosen.sum(),
                    rejected.sum(),
                    (chosen > rejected).sum().astype(mx.float32),
                ]
            )
        )

    def metrics(self, stats: list[float], pairs: int) -> dict:
        """Event fields from summed statistics: mean rewards, their margin, and the share of pairs
        whose chosen reward is above the rejected one."""
        if not stats:
            return {}
        values = dict(zip(STATS, stats))
        n = max(pairs, 1)
        return {
            "reward_chosen": round(values["chosen"] / n, 6),
            "reward_rejected": round(values["rejected"] / n, 6),
            "reward_margin": round((values["chosen"] - values["rejected"]) / n, 6),
            "reward_accuracy": round(values["right"] / n, 6),
        }


class DPOObjective(PreferenceObjective):
    """Rafailov et al. 2023: -log σ(β·((log π(c) - log π_ref(c)) - (log π(r) - log π_ref(r)))), with
    summed reply log-probs; a reply's reward is β·(log π - log π_ref). The reference log-probs are
    the starting model's, computed once per run (reference_logprobs.py), so they ride in the
    micro-batch and no second model is kept."""

    def extra(self, dataset, part):
        if dataset.reference is None:
            raise RuntimeError(
                "DPO needs the split's reference log-probabilities before its batches"
            )
        return (mx.array(dataset.reference[part]),)

    def loss(self, model, tokens, lengths, positions, reference, grad=True):
        logp, counts = self.logprobs(model, tokens, lengths, positions, grad)
        n = reference.shape[0]
        chosen = self.beta * (logp[:n] - reference[:, 0])
        rejected = self.beta * (logp[n:] - reference[:, 1])
        losses = -nn.log_sigmoid(chosen - rejected)
        return (
            losses.sum(),
            mx.array(n),
            self._stats(counts, mx.stop_gradient(chosen), mx.stop_gradient(rejected)),
        )


def log1m_exp(x: mx.array) -> mx.array:
    """log(1 - exp(x)) for a mean log-prob x ≤ 0; clipped below 0, where a reply the model is
    certain of (x rounds to 0 in float32) would make it -inf and the gradient NaN."""
    return mx.log1p(-mx.exp(mx.minimum(x, -1e-6)))


class ORPOObjective(PreferenceObjective):
    """Hong et al. 2024: the chosen reply's NLL (mean per token) + λ·-log σ(log odds(c) - log
    odds(r)), odds(y) = P/(1-P) with P the mean per-token probability exp(mean log-prob); no
    reference model. λ is the profile's `beta`; a reply's reward is λ·(its mean log-prob), as TRL
    reports ORPO's."""

    def loss(self, model, tokens, lengths, positions, grad=True):
        logp, counts = self.logprobs(model, tokens, lengths, positions, grad)
        n = logp.shape[0] // 2
        mean = logp / mx.maximum(counts, 1).astype(mx.float32)
        chosen, rejected = mean[:n], mean[n:]
        log_odds = (chosen - log1m_exp(chosen)) - (rejected - log1m_exp(rejected))
        losses = -chosen - self.beta * nn.log_sigmoid(log_odds)
        stats = self._stats(
            counts, self.beta * mx.stop_gradient(chosen), self.beta * mx.stop_gradient(rejected)
        )
        return losses.sum(), mx.array(n), stats
