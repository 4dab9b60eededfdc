"""Guards that end a run with a clear message instead of training on garbage or dying unexplained:
a NaN loss, MLX memory over the profile's budget, an MLX allocation error.

Ours because mlx-lm's train() trains on through a NaN loss and has no memory budget. A guard only
judges: it returns a Verdict, and the Trainer applies it (trainer.py, `_end`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from farense_tui.engine.processes import EXIT_FAILED, EXIT_OVER_BUDGET
from farense_tui.engine.profiles.profile import Profile
from farense_tui.engine.training.memory_watch import MemoryWatch, fmt_gb

ALLOCATION_ERRORS = ("allocate", "out of memory", "resource limit", "insufficient memory")


@dataclass(frozen=True)
class Verdict:
    """How the run ends: the error it reports, then what is done before the exit code."""

    kind: str  # the error event's kind: nan | budget | oom
    message: str
    exit_code: int
    failed: bool = False  # the run is failed with the message (not resumed smaller)
    save: str = ""  # the reason of a checkpoint saved first; "" for none
    take_back_step: bool = (
        False  # a step was half done: its weights and optimizer state go back first
    )


def check_loss(step: int, loss: float) -> Verdict | None:
    """A NaN or infinite loss fails the run; its last checkpoint, from before, stays the one to
    resume."""
    if math.isfinite(loss):
        return None
    return Verdict(
        "nan",
        f"loss became {loss} at step {step}; the last good checkpoint is kept. "
        "Try learning_rate 1e-4 and warmup_steps 200.",
        EXIT_FAILED,
        failed=True,
    )


def check_memory(memory: MemoryWatch, p: Profile, mem: dict) -> tuple[list[str], Verdict | None]:
    """Warnings near the budget; over it, checkpoint and exit so the supervisor resumes with smaller
    settings."""
    warnings = memory.warnings(mem)
    if not memory.over_budget(mem):
        return warnings, None
    return warnings, Verdict(
        "budget",
        f"MLX peak {fmt_gb(mem['mem_peak_gb'])} is over the profile's budget "
        f"{fmt_gb(p.memory_budget_gb)} (batch {p.batch_size}, sequence {p.max_seq_length})",
        EXIT_OVER_BUDGET,
        save="budget",
    )


def allocation_failed(exc: RuntimeError, mid_step: bool) -> Verdict:
    """An MLX allocation error (Metal raises these): checkpoint the last good state (mid-step, the
    weights may be half updated: the step is taken back), then exit so the supervisor resumes with
    smaller settings. Any other RuntimeError is a bug and is raised again."""
    if not any(s in str(exc).lower() for s in ALLOCATION_ERRORS):
        raise exc
    return Verdict(
        "oom",
        f"MLX could not allocate memory: {exc}",
        EXIT_OVER_BUDGET,
        save="allocation",
        take_back_step=mid_step,
    )
