"""What the Chat screen can talk to: base models in models/ and the adapters of every run.

Plain Python (no Textual): the screen calls `list_targets` in a thread worker, because it reads
every run folder and imports the MLX chat engine (seconds), then offers the choices in a Select.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BASE_PREFIX = "model:"
RUN_PREFIX = "run:"


@dataclass(frozen=True)
class TargetChoice:
    """One line of the target list: a stable key, what the user reads, and how to build the target."""

    key: str
    label: str
    build: Callable[[], object]  # -> farense_tui.engine.chat.service.ChatTarget


def list_targets(has_gpu: bool | None = None) -> list[TargetChoice]:
    """Adapters of every run (newest run first: best, final, then checkpoints), then base models.

    Only folders are read (no events, no processes, no mlx-lm import), so listing again each time
    the Chat screen shows costs next to nothing.
    """
    from farense_tui.engine.runs import checkpoints as ckpt
    from farense_tui.engine import paths
    from farense_tui.engine.models.local import list_models

    choices: list[TargetChoice] = []
    for config in sorted(paths.runs_dir().glob("*/config.toml"), reverse=True):
        run_dir = config.parent
        for which in ckpt.adapter_choices(run_dir):
            name = f"step {which}" if which.isdigit() else which
            choices.append(TargetChoice(
                f"{RUN_PREFIX}{run_dir}:{which}", f"{run_dir.name} · {name}", _run_builder(run_dir, which)
            ))
    models = list_models()
    if models and has_gpu is None:
        has_gpu = gpu_available()
    for info in models:
        precision = base_precision(info.quantization, bool(has_gpu))
        choices.append(TargetChoice(
            f"{BASE_PREFIX}{info.path}", f"{info.name} · base model ({precision})", _base_builder(info.path, precision)
        ))
    return choices


def base_precision(quantization: str, has_gpu: bool) -> str:
    """float32 on the CPU (its quantized matmuls are slow); on a GPU the weights as they are stored."""
    if not has_gpu:
        return "float32"
    if quantization.startswith("4-bit"):
        return "4bit"
    if quantization.startswith("8-bit"):
        return "8bit"
    return quantization if quantization in ("bfloat16", "float16", "float32") else "4bit"


def gpu_available() -> bool:
    from farense_tui.engine.machine.hardware import detect

    return detect().has_gpu


def _run_builder(run_dir: Path, which: str) -> Callable[[], object]:
    def build():
        from farense_tui.engine.chat.service import target_for_run

        return target_for_run(run_dir, which)

    return build


def _base_builder(path: Path, precision: str) -> Callable[[], object]:
    def build():
        from farense_tui.engine.chat.service import ChatTarget

        return ChatTarget(model=str(path), adapter=None, precision=precision, label=f"{path.name} (base)")

    return build


def release_mlx_streams() -> None:
    """End of a worker thread that may have used MLX (importing mlx-lm does): MLX wants
    `mx.clear_streams()` in such a thread before it ends, or the process may abort at exit
    ("terminate called without an active exception", seen 2 times in 4)."""
    mx = sys.modules.get("mlx.core")
    if mx is not None:
        mx.clear_streams()
