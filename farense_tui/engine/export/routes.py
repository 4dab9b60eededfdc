"""The export routes, one registry: each route's name, what it writes, and the function that
writes it, imported when an export runs (it loads MLX), so the CLI's help and the cockpit's
dialog list the routes without MLX. Every route ends in the same `Written`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from farense_tui.engine.export.plan import ExportPlan


@dataclass(frozen=True)
class Written:
    """What a route wrote, as every route says it."""

    check: str  # what was compared after writing, and how it came out
    command: str = ""  # what to run next with it
    provenance: dict = field(default_factory=dict)  # what the route adds to provenance.json


def _check_only(check: str, plan: ExportPlan) -> Written:
    return Written(check)


def _gguf(written: tuple[Path, str], plan: ExportPlan) -> Written:
    return Written(written[1])  # (the file, its check)


def _peft(written: tuple[str, dict], plan: ExportPlan) -> Written:
    check, extra = written
    base = extra["peft_base"]
    command = (
        f'PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base["name"]}"), '
        f'"{plan.out}")  # base from {base["from"]}; see README.md'
    )
    return Written(check, command, extra)


def _ollama(written: tuple[str, str], plan: ExportPlan) -> Written:
    return Written(*written)  # (the check, the `ollama create` line)


@dataclass(frozen=True)
class Route:
    name: str
    help: str  # what it writes, one line
    writer: str  # "module:function" in this package: (plan, folder, progress) -> its own result
    outcome: Callable[[Any, ExportPlan], Written]  # that result, as every route says it

    def write(self, plan: ExportPlan, folder: Path, progress: Callable[[str], None]) -> Written:
        """Write the route into `folder`."""
        module, function = self.writer.split(":")
        write = getattr(importlib.import_module(f"farense_tui.engine.export.{module}"), function)
        return self.outcome(write(plan, folder, progress), plan)


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
            _peft,
        ),
        Route("ollama", "GGUF + Modelfile for `ollama create`", "ollama:write_ollama", _ollama),
    )
}
