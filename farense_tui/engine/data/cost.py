"""What a data set will cost to train with a profile: examples, steps, tokens per step and, from
this machine's measured speed, the time an epoch takes.

The step arithmetic follows training's own order (training/batching.py, which imports MLX): the
train examples sorted by length are cut into groups of one effective batch, the longest
remainder left out, one group per optimizer step.
"""

from __future__ import annotations

from dataclasses import dataclass

from farense_tui.engine.data.report import DataReport
from farense_tui.engine.profiles.profile import Profile
from farense_tui.engine.runs.speed import MeasuredSpeed
from farense_tui.engine.runs.status import fmt_duration


@dataclass(frozen=True)
class DataCost:
    examples: int  # valid train examples
    steps_per_epoch: int
    total_steps: int
    tokens_per_step: int | None  # prompt included, no padding; None when lengths are characters

    def epoch_seconds(self, speed: MeasuredSpeed) -> float | None:
        if not self.tokens_per_step or not speed.tokens_per_sec:
            return None
        return self.steps_per_epoch * self.tokens_per_step / speed.tokens_per_sec


def data_cost(report: DataReport, profile: Profile) -> DataCost | None:
    """The cost of the report's train split under `profile`; None without train examples."""
    train = report.splits.get("train")
    if train is None or not train.token_lengths:
        return None
    batch = profile.effective_batch
    steps = len(train.token_lengths) // batch
    tokens = None
    if train.length_unit == "tokens" and steps:
        used = sorted(min(n, profile.max_seq_length) for n in train.token_lengths)[: steps * batch]
        tokens = round(sum(used) / steps)
    total = profile.iters or profile.epochs * steps
    return DataCost(len(train.token_lengths), steps, total, tokens)


def warmup_lines(profile: Profile, total: int) -> list[str]:
    """When the profile's warm-up would take most of the run: the warm-up the run will use."""
    if profile.warmup_steps * 2 <= total:
        return []
    warmup = profile.warmup_for(total)
    if warmup < profile.warmup_steps:
        return [
            f"warm-up {warmup} of {total} steps (warmup_share {profile.warmup_share:g}; "
            f"warmup_steps {profile.warmup_steps})"
        ]
    return [f"warm-up {warmup} of {total} steps: peak learning rate only at step {warmup}"]


def cost_lines(cost: DataCost, profile: Profile, speed: MeasuredSpeed | None) -> list[str]:
    """The cost in short lines (they fit Config at 80 columns): steps, tokens, time per epoch."""
    length = f"{profile.iters} iters" if profile.iters else f"{profile.epochs} epochs"
    lines = [
        f"{cost.examples} examples: {cost.steps_per_epoch} steps/epoch, {cost.total_steps} steps "
        f"({length})"
    ]
    if cost.total_steps:
        lines += warmup_lines(profile, cost.total_steps)
    if not cost.tokens_per_step:
        return [*lines, "time per epoch: needs token counts (a local model's tokenizer)"]
    lines.append(
        f"{cost.tokens_per_step:,} tokens/step (batch "
        f"{profile.batch_size}×{profile.grad_accumulation})"
    )
    if speed is None:
        return [*lines, "time per epoch: not measured yet (any run of this model measures it)"]
    return [
        *lines,
        f"~{fmt_duration(cost.epoch_seconds(speed))} per epoch (training steps only) at "
        f"{speed.tokens_per_sec:,.0f} tok/s,",
        f"  the median of {speed.steps} steps of run {speed.run_id}",
    ]
