"""Guards that end a run with a clear message instead of training on garbage or dying unexplained:
a NaN loss, MLX memory over the profile's budget, an MLX allocation error.

Ours because mlx-lm's train() trains on through a NaN loss and has no memory budget.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from farense_tui.engine.processes import EXIT_FAILED, EXIT_OVER_BUDGET
from farense_tui.engine.training.memory_watch import fmt_gb
from farense_tui.engine.training.stop import StopTraining

if TYPE_CHECKING:
    from farense_tui.engine.training.trainer import Trainer

ALLOCATION_ERRORS = ("allocate", "out of memory", "resource limit", "insufficient memory")


def check_loss(trainer: Trainer, loss: float) -> None:
    """A NaN or infinite loss fails the run; its last checkpoint, from before, stays the one to resume."""
    if math.isfinite(loss):
        return
    message = (
        f"loss became {loss} at step {trainer.step}; the last good checkpoint is kept. "
        "Try learning_rate 1e-4 and warmup_steps 200."
    )
    trainer.events.emit("error", kind="nan", step=trainer.step, message=message)
    trainer.set_state(state="failed", message=message)
    raise StopTraining(EXIT_FAILED)


def check_memory(trainer: Trainer, mem: dict) -> None:
    """Warn near the budget; over it, checkpoint and exit so the supervisor resumes with smaller settings."""
    for warning in trainer.memory.warnings(mem):
        trainer.events.emit("warning", kind="memory", message=warning)
    if trainer.memory.over_budget(mem):
        p = trainer.cfg.profile
        trainer.events.emit(
            "error", kind="budget", step=trainer.step,
            message=f"MLX peak {fmt_gb(mem['mem_peak_gb'])} is over the profile's budget "
            f"{fmt_gb(p.memory_budget_gb)} (batch {p.batch_size}, sequence {p.max_seq_length})",
        )
        trainer.checkpoint("budget")
        raise StopTraining(EXIT_OVER_BUDGET)


def allocation_failed(trainer: Trainer, exc: RuntimeError) -> int:
    """An MLX allocation error (Metal raises these): checkpoint the last good state, then exit so the
    supervisor resumes with smaller settings. Any other RuntimeError is a bug and is raised again."""
    if not any(s in str(exc).lower() for s in ALLOCATION_ERRORS):
        raise exc
    if trainer.before_step is not None:  # mid-step: the weights may be half updated; take back the step
        weights, optimizer_state = trainer.before_step
        trainer.setup.model.update(weights)
        trainer.setup.optimizer.state = optimizer_state
        trainer.step -= 1
    trainer.events.emit("error", kind="oom", step=trainer.step, message=f"MLX could not allocate memory: {exc}")
    if hasattr(trainer, "setup") and trainer.step > 0:
        try:
            trainer.checkpoint("allocation")
        except RuntimeError:
            pass  # no memory even to save: the previous checkpoint is the one resumed
    return EXIT_OVER_BUDGET
