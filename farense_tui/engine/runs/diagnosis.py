"""Why an engine process ended, with the evidence: out of memory only when something shows it.

A signal alone proves nothing: a user's `kill -9` and a kernel's OOM kill look the same to the
parent. So a death counts as out-of-memory only with evidence from this engine's own life: its
own budget stop, an allocation or Metal out-of-memory message in its engine.log output, the last
step's MLX peak near the budget, the machine near its RAM limit or swapping, or the kernel's OOM
killer having struck (Linux /proc/vmstat). Otherwise it was killed or it crashed, and the run is
resumed with the same settings, never smaller.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.runs.events import EventReader
from farense_tui.engine.runs.exit_codes import EXIT_OVER_BUDGET

OOM_MARKERS = ("insufficient memory", "unable to allocate", "out of memory", "resource limit exceeded")
KILL_SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
NEAR_BUDGET = 0.9  # the last step's MLX peak at or over this share of the budget
LOW_AVAILABLE = 0.05  # the system's available RAM under this share of the total
SWAP_GROWTH_GB = 0.25

OUT_OF_MEMORY, KILLED, CRASHED = "out of memory", "killed", "crashed"


@dataclass(frozen=True)
class EngineStart:
    """What the supervisor notes before starting an engine, so evidence is this engine's alone."""

    log_offset: int
    events_offset: int
    oom_kills: int | None

    @classmethod
    def now(cls, run_dir: Path) -> EngineStart:
        return cls(_size(run_dir / "engine.log"), _size(run_dir / "events.jsonl"), kernel_oom_kills())


@dataclass(frozen=True)
class Diagnosis:
    what: str  # "the engine process died with SIGKILL"
    cause: str  # OUT_OF_MEMORY, KILLED or CRASHED
    evidence: str  # why that cause, in words

    @property
    def out_of_memory(self) -> bool:
        return self.cause == OUT_OF_MEMORY

    @property
    def message(self) -> str:
        return f"{self.what}: {self.cause} ({self.evidence})"


def diagnose(code: int, run_dir: Path, start: EngineStart, budget_gb: float) -> Diagnosis:
    """Why the engine started at `start` ended with exit `code` (not 0, 1 or a profile switch)."""
    if code == EXIT_OVER_BUDGET:
        return Diagnosis("the engine stopped", OUT_OF_MEMORY, "its memory was over the profile's budget "
                         "or an allocation failed; see the error before this")
    what = (f"the engine process died with {signal.Signals(-code).name}" if code < 0
            else f"the engine process exited with code {code}")
    evidence = memory_evidence(run_dir, start, budget_gb)
    if evidence:
        return Diagnosis(what, OUT_OF_MEMORY, evidence)
    killed = code < 0 and signal.Signals(-code).name in KILL_SIGNALS
    return Diagnosis(what, KILLED if killed else CRASHED, "no sign of memory pressure: " + _calm(run_dir, start, budget_gb))


def memory_evidence(run_dir: Path, start: EngineStart, budget_gb: float) -> str:
    """The first sign that memory ran out during this engine's life, in words; "" when none."""
    log = _read_from(run_dir / "engine.log", start.log_offset).lower()
    if marker := next((m for m in OOM_MARKERS if m in log), None):
        return f"engine.log says {marker!r}"
    kills = kernel_oom_kills()
    if start.oom_kills is not None and kills is not None and kills > start.oom_kills:
        return "the kernel's out-of-memory killer struck while it ran"
    steps = _steps(run_dir, start)
    if not steps:
        return ""
    last = steps[-1]
    peak = last.get("mem_peak_gb") or 0.0
    if budget_gb and peak >= NEAR_BUDGET * budget_gb:
        return f"its last step's MLX peak {peak:.2f} GB was near the {budget_gb:.2f} GB budget"
    total = (last.get("sys_used_gb") or 0.0) + (last.get("sys_available_gb") or 0.0)
    if total and (last.get("sys_available_gb") or 0.0) < LOW_AVAILABLE * total:
        return f"the machine had only {last['sys_available_gb']:.2f} GB of its RAM available"
    swap_growth = (last.get("swap_used_gb") or 0.0) - (steps[0].get("swap_used_gb") or 0.0)
    if swap_growth > SWAP_GROWTH_GB:
        return f"the machine was swapping ({swap_growth:.2f} GB more swap in use)"
    return ""


def _calm(run_dir: Path, start: EngineStart, budget_gb: float) -> str:
    steps = _steps(run_dir, start)
    if not steps:
        return "it died before its first step, with no memory error in engine.log"
    last = steps[-1]
    return (f"last MLX peak {last.get('mem_peak_gb') or 0:.2f} GB of a {budget_gb:.2f} GB budget, "
            f"{last.get('sys_available_gb') or 0:.1f} GB of RAM available, no memory error in engine.log")


def kernel_oom_kills() -> int | None:
    """Processes the Linux OOM killer has killed since boot; None where the kernel does not say."""
    try:
        with open("/proc/vmstat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _steps(run_dir: Path, start: EngineStart) -> list[dict]:
    reader = EventReader(run_dir / "events.jsonl")
    reader.offset = start.events_offset
    return [e for e in reader.read_new() if isinstance(e, dict) and e.get("type") == "step"]


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
