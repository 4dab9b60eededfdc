"""What an export came from, in a small JSON inside the output, and an `export` event in the run."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.run_folder import ADAPTER_WEIGHTS, RunFolder
from farense_tui.engine.versions import versions

PROVENANCE = "provenance.json"


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _weight_files(plan: ExportPlan) -> list[Path]:
    """The adapter's weights; a full fine-tune's model folder: its weight files in name order."""
    if plan.is_model:
        return sorted(plan.adapter.glob("model*.safetensors"))
    return [plan.adapter / ADAPTER_WEIGHTS]


def write_provenance(plan: ExportPlan, folder: Path, check: str, extra: dict | None = None) -> dict:
    """provenance.json in `folder` (the staged output): run, checkpoint, base, settings, check,
    and what the route adds (`extra`)."""
    record = {
        "route": plan.route,
        "run": plan.run_dir.name,
        "run_dir": str(plan.run_dir),
        "checkpoint": plan.checkpoint,
        "adapter": str(plan.adapter),
        "adapter_sha256": _sha256(*_weight_files(plan)),
        "base_model": plan.base_model,
        "settings_hash": plan.settings_hash,
        "dequantize": plan.dequantize,
        "keep_quantized": plan.keep_quantized,
        "check": check,
        **(extra or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions("farense-tui", "mlx", "mlx-lm"),
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
    }
    (folder / PROVENANCE).write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return record


def record_export(plan: ExportPlan, check: str) -> dict:
    """The run's events list the export (one appended line, as the engine writes its own)."""
    writer = EventWriter(RunFolder(plan.run_dir).events)
    try:
        return writer.emit(
            "export",
            route=plan.route,
            checkpoint=plan.checkpoint,
            path=str(plan.out),
            base_model=plan.base_model,
            check=check,
        )
    finally:
        writer.close()
