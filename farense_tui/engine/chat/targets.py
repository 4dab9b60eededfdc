"""What can be chatted with: the adapters of every run and the base models in models/.

No MLX at import time: a front end lists targets in a worker thread and offers them, and only
building the chosen one (`TargetChoice.build`) imports the chat service and with it mlx-lm.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from farense_tui.engine import runs
from farense_tui.engine.machine import hardware
from farense_tui.engine.models.local import list_models
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.run_folder import RunFolder

if TYPE_CHECKING:
    from farense_tui.engine.chat.service import ChatTarget

BASE_PREFIX = "model:"
RUN_PREFIX = "run:"


@dataclass(frozen=True)
class TargetChoice:
    """One line of the target list: a stable key, what the user reads, and how to build the
    target."""

    key: str
    label: str
    build: Callable[[], ChatTarget]
    run_dir: Path | None = None  # the run whose adapter this is; None for a base model
    finished: bool = False  # that run has finished


def opening_choice(choices: list[TargetChoice], active_run: Path | None) -> TargetChoice | None:
    """What Chat opens with: the best adapter (else the final one) of the active run once it has
    finished, else of the newest finished run; None when no run has finished."""
    ready = [c for c in choices if c.finished and c.key.endswith((":best", ":final"))]
    active = active_run.resolve() if active_run is not None else None
    # Stable sort: the active run first, then the list's order (newest run first, best before
    # final).
    ready.sort(key=lambda c: c.run_dir.resolve() != active)
    return ready[0] if ready else None


def list_targets(has_gpu: bool | None = None) -> list[TargetChoice]:
    """Adapters of every run (newest run first: best, final, then checkpoints), then base models.

    No mlx-lm import and no model is read, so listing again each time a chat view shows is cheap;
    `has_gpu` (None: detect it) sets the precision base models are offered at.
    """
    choices: list[TargetChoice] = []
    for run in runs.list_runs():
        for which in RunFolder(run.path).adapter_choices():
            name = f"step {which}" if which.isdigit() else which
            choices.append(
                TargetChoice(
                    f"{RUN_PREFIX}{run.path}:{which}",
                    f"{run.run_id} · {name}",
                    _run_builder(run.path, which),
                    run_dir=run.path,
                    finished=run.status == State.FINISHED,
                )
            )
    models = list_models()
    if models and has_gpu is None:
        has_gpu = hardware.detect().has_gpu
    for info in models:
        precision = base_precision(info.quantization, bool(has_gpu))
        choices.append(
            TargetChoice(
                f"{BASE_PREFIX}{info.path}",
                f"{info.name} · base model ({precision})",
                _base_builder(info.path, precision),
            )
        )
    return choices


def base_precision(quantization: str, has_gpu: bool) -> str:
    """float32 on the CPU (its quantized matmuls are slow); on a GPU the weights as they are
    stored."""
    if not has_gpu:
        return "float32"
    if quantization.startswith("4-bit"):
        return "4bit"
    if quantization.startswith("8-bit"):
        return "8bit"
    return quantization if quantization in ("bfloat16", "float16", "float32") else "4bit"


def _run_builder(run_dir: Path, which: str) -> Callable[[], ChatTarget]:
    def build() -> ChatTarget:
        from farense_tui.engine.chat.service import target_for_run

        return target_for_run(run_dir, which)

    return build


def _base_builder(path: Path, precision: str) -> Callable[[], ChatTarget]:
    def build() -> ChatTarget:
        from farense_tui.engine.chat.service import ChatTarget

        return ChatTarget(
            model=str(path), adapter=None, precision=precision, label=f"{path.name} (base)"
        )

    return build


def release_mlx_streams() -> None:
    """End of a worker thread that may have used MLX (importing mlx-lm does): MLX wants
    `mx.clear_streams()` in such a thread before it ends, or the process may abort at exit
    ("terminate called without an active exception", seen 2 times in 4)."""
    mx = sys.modules.get("mlx.core")
    if mx is not None:
        mx.clear_streams()
