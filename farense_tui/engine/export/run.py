"""Run an export plan: stage the output, write the route, check it, record where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.export.provenance import PROVENANCE, record_export, write_provenance
from farense_tui.engine.export.staging import staged


@dataclass(frozen=True)
class ExportResult:
    path: Path
    check: str  # what was compared after writing, and how it came out
    command: str = ""  # what to run next (the `ollama create` line)

    @property
    def provenance(self) -> Path:
        return self.path / PROVENANCE


def run_export(plan: ExportPlan, progress: Callable[[str], None] = lambda _: None) -> ExportResult:
    """Write `plan.out` whole or not at all; MLX is imported here, by the route that needs it."""
    command, extra = "", {}
    with staged(plan.out) as folder:
        if plan.route == "fused":
            from farense_tui.engine.export.fused import export_fused

            check = export_fused(plan, folder, progress)
        elif plan.route == "gguf":
            from farense_tui.engine.export.gguf import write_gguf

            check = write_gguf(plan, folder, progress)[1]
        elif plan.route == "peft":
            from farense_tui.engine.export.peft import write_peft

            check, extra = write_peft(plan, folder, progress)
            base = extra["peft_base"]
            command = (f'PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base["name"]}"), '
                       f'"{plan.out}")  # base from {base["from"]}; see README.md')
        else:
            from farense_tui.engine.export.ollama import write_ollama

            check, command = write_ollama(plan, folder, progress)
        write_provenance(plan, folder, check, extra)
    record_export(plan, check)
    progress(f"done: {plan.out}")
    return ExportResult(plan.out, check, command)
