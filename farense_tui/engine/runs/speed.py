"""This machine's training speed for a model, measured by its earlier runs' step events.

A step event's `input_tokens` (the tokens the step processed, prompts included, no padding) over
its `step_time`; the median over the newest run that has them, so a first compiled step or an
evaluation pause does not move it. Runs written before `input_tokens` existed are skipped: their
tokens/s counts only the tokens the loss is on, which is not what a data set's length measures.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.run_folder import RunFolder


@dataclass(frozen=True)
class MeasuredSpeed:
    tokens_per_sec: float
    steps: int  # step events measured
    run_id: str  # the run they come from


def same_model(a: str, b: str) -> bool:
    """Two model specs name the same model: the same folder, or the same Hub id."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.is_dir() and pb.is_dir():
        return pa.resolve() == pb.resolve()
    return a == b


def measured_speed(model: str, runs_root: Path | None = None) -> MeasuredSpeed | None:
    """The newest run of `model` with measured steps; None when no run of it has any."""
    root = runs_root or paths.runs_dir()
    for config in sorted(root.glob("*/config.toml"), reverse=True):  # run ids start with the time
        try:
            cfg = RunConfig.load(config)
        except (UserError, KeyError, OSError):
            continue  # a half-created or foreign folder
        if not same_model(cfg.model, model):
            continue
        rates = [
            e["input_tokens"] / e["step_time"]
            for e in read_all(RunFolder(config.parent).events)
            if e.get("type") == "step" and e.get("input_tokens") and e.get("step_time")
        ]
        if rates:
            return MeasuredSpeed(statistics.median(rates), len(rates), config.parent.name)
    return None
