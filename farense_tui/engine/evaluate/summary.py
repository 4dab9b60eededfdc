"""From scored answers to the protocol's table: per seeded sample, then mean ± sd over the seeds.

No MLX. Every seed draws its own sample of the split (all examples when no sample size is set);
greedy answers do not depend on the seed, so each example is answered once and every sample
that holds it reuses the answer.
"""

from __future__ import annotations

import random

from farense_tui.engine.evaluate.metrics import METRICS, mean_sd


def sample_indices(n: int, samples: int, seeds: list[int]) -> dict[int | None, list[int]]:
    """Seed -> the example indices it scores; {None: all} when no seed is given."""
    if not seeds:
        return {None: list(range(n))}
    size = n if samples <= 0 else min(samples, n)
    return {seed: sorted(random.Random(seed).sample(range(n), size)) for seed in seeds}


def summarize(answers: list[dict], samples: dict[int | None, list[int]]) -> dict[str, dict]:
    """side -> metric -> {mean, sd, per_seed}: each seed's mean over its sample, then their
    spread."""
    by_side: dict[str, dict[int, dict]] = {}
    for row in answers:
        by_side.setdefault(row["side"], {})[row["index"]] = row
    table: dict[str, dict] = {}
    for side, rows in by_side.items():
        table[side] = {}
        for metric in METRICS:
            per_seed = [
                sum(rows[i][metric] for i in idx) / len(idx) for idx in samples.values() if idx
            ]
            mean, sd = mean_sd(per_seed)
            table[side][metric] = {"mean": mean, "sd": sd, "per_seed": per_seed}
    return table
