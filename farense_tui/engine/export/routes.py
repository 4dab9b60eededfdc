"""The export routes, one registry: each route's name, what it writes, and the function that
writes it, imported when an export runs (it loads MLX), so the CLI's help and the cockpit's
dialog list the routes without MLX. Every route ends in the same `(check, next command)`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from farense_tui.engine.export.plan import ExportPlan


def _check_only(written: str) -> tuple[str, str]:
    return written, ""


def _gguf(written: tuple[Path, str]) -> tuple[str, str]:
    return written[1], ""  # (the file, its check)


def _check_and_command(written: tuple[str, str]) -> tuple[str, str]:
    return written


@dataclass(frozen=True)
class Route:
    name: str
    help: str  # what it writes, one line
    writer: str  # "module:function" in this package: (plan, folder, progress) -> what it returns
    outcome: Callable[[Any], tuple[str, str]]  # what the writer returns -> (check, next command)

    def write(
        self, plan: ExportPlan, folder: Path, progress: Callable[[str], None]
    ) -> tuple[str, str]:
        """Write the route into `folder`: (the check it ran on what it wrote, what to run next)."""
        module, function = self.writer.split(":")
        write = getattr(importlib.import_module(f"farense_tui.engine.export.{module}"), function)
        return self.outcome(write(plan, folder, progress))


ROUTES: dict[str, Route] = {
    route.name: route
    for route in (
        Route(
            "fused",
            "base + adapter as an MLX model folder in models/, dequantized "
            "(mlx_lm.generate, a base for farense-tui)",
            "fused:export_fused",
            _check_only,
        ),
        Route("gguf", "one float16 GGUF file for llama.cpp / LM Studio", "gguf:write_gguf", _gguf),
        Route(
            "peft",
            "Hugging Face PEFT adapter (adapter_model.safetensors + adapter_config.json)",
            "peft:write_peft",
            _check_only,
        ),
        Route(
            "ollama",
            "GGUF + Modelfile for `ollama create`",
            "ollama:write_ollama",
            _check_and_command,
        ),
    )
}
