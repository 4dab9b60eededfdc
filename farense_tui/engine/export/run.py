"""Run an export plan: stage the output, write the route, check it, record where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.export.provenance import PROVENANCE, record_export, write_provenance
from farense_tui.engine.export.routes import ROUTES
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
    with staged(plan.out) as folder:
        written = ROUTES[plan.route].write(plan, folder, progress)
        write_provenance(plan, folder, written.check, written.provenance)
    record_export(plan, written.check)
    progress(f"done: {plan.out}")
    return ExportResult(plan.out, written.check, written.command)
