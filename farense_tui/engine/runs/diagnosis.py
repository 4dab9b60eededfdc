"""Why an engine process ended, with the evidence: out of memory only when something shows it.

A signal alone proves nothing: a user's `kill -9` and a kernel's OOM kill look the same to the
parent. So a death counts as out-of-memory only with evidence from this engine's own life: its
own budget stop, an allocation or Metal out-of-memory message in its engine.log output, the last
step's MLX peak near the budget, the machine near its RAM limit or swapping, or the kernel's OOM
killer having struck (Linux /proc/vmstat). Otherwise it was killed or it crashed, and the run is
resumed with the same settings, never smaller.

A data-parallel run is diagnosed rank by rank: each rank's watcher (rank_watch.py) labels its output
and reports how it ended, and the step events carry each rank's memory figures, so the verdict
names the rank, and any rank out of memory makes the whole run out of memory (every rank restarts
with the smaller settings).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.machine.oom_killer import kernel_oom_kills
from farense_tui.engine.processes import ERROR_LINE, EXIT_OVER_BUDGET, EXIT_RANK_LOST
from farense_tui.engine.runs.events import EventReader
from farense_tui.engine.runs.rank_watch import RankFate, rank_lines, read_fates
from farense_tui.engine.runs.run_folder import RunFolder

OOM_MARKERS = (
    "insufficient memory",
    "unable to allocate",
    "out of memory",
    "resource limit exceeded",
)
KILL_SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
NEAR_BUDGET = 0.9  # the last step's MLX peak at or over this share of the budget
LOW_AVAILABLE = 0.05  # the system's available RAM under this share of the total
SWAP_GROWTH_GB = 0.25

OUT_OF_MEMORY, KILLED, CRASHED = "out of memory", "killed", "crashed"
OVER_BUDGET = "its memory was over the profile's budget or an allocation failed"


@dataclass(frozen=True)
class EngineStart:
    """What the supervisor notes before starting an engine, so evidence is this engine's alone."""

    log_offset: int
    events_offset: int
    oom_kills: int | None

    @classmethod
    def now(cls, run_dir: Path) -> EngineStart:
        run = RunFolder(run_dir)
        return cls(_size(run.engine_log), _size(run.events), kernel_oom_kills())


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


@dataclass(frozen=True)
class Life:
    """What one engine process, or one rank of a data-parallel run, left behind while it ran."""

    log: str  # its output
    steps: list[
        dict
    ]  # its figures at each step: mem_peak_gb, sys_used_gb, sys_available_gb, swap_used_gb
    oom_kills: int | None  # the kernel's OOM kills on its machine while it ran; None where unknown


def diagnose(code: int, run_dir: Path, start: EngineStart, budget_gb: float) -> Diagnosis:
    """Why the engine started at `start` ended with exit `code` (not 0, 1 or a profile switch).
    For a data-parallel run, which rank died and why, from each rank's own evidence."""
    if code == EXIT_OVER_BUDGET:
        return Diagnosis(
            "the engine stopped", OUT_OF_MEMORY, f"{OVER_BUDGET}; see the error before this"
        )
    log, steps = _read_from(RunFolder(run_dir).engine_log, start.log_offset), _steps(run_dir, start)
    if by_rank := diagnose_ranks(read_fates(log), log, steps, budget_gb):
        return by_rank
    what = (
        f"the engine process died with {signal.Signals(-code).name}"
        if code < 0
        else f"the engine process exited with code {code}"
    )
    kills = kernel_oom_kills()
    life = Life(
        log,
        steps,
        kills - start.oom_kills if kills is not None and start.oom_kills is not None else None,
    )
    return _verdict(what, code, life, budget_gb)


def diagnose_ranks(
    fates: list[RankFate], log: str, steps: list[dict], budget_gb: float
) -> Diagnosis | None:
    """The rank that died of out-of-memory, else the first rank that died (the others end after it,
    the launcher's doing or a lost peer's); None when no rank says it died (a group killed for
    hanging)."""
    died = [f for f in fates if f.code != 0]
    causes = [f for f in died if f.code != EXIT_RANK_LOST] or died
    verdicts = [_verdict(f.what, f.code, _rank_life(f, log, steps), budget_gb) for f in causes]
    return next((v for v in verdicts if v.out_of_memory), verdicts[0] if verdicts else None)


def _rank_life(fate: RankFate, log: str, steps: list[dict]) -> Life:
    rows = [r for e in steps for r in e.get("ranks") or [] if r.get("rank") == fate.rank]
    # The OOM killer ends a process with SIGKILL; a rank ended otherwise was not its victim.
    kills = fate.oom_kills if fate.code == -signal.SIGKILL else 0
    return Life(rank_lines(log, fate.rank), rows, kills)


def _verdict(what: str, code: int, life: Life, budget_gb: float) -> Diagnosis:
    if code == EXIT_OVER_BUDGET:  # a rank's own budget guard or allocation error
        return Diagnosis(what, OUT_OF_MEMORY, _last_error(life.log) or OVER_BUDGET)
    if evidence := memory_evidence(life, budget_gb):
        return Diagnosis(what, OUT_OF_MEMORY, evidence)
    killed = code < 0 and signal.Signals(-code).name in KILL_SIGNALS
    return Diagnosis(
        what, KILLED if killed else CRASHED, "no sign of memory pressure: " + _calm(life, budget_gb)
    )


def memory_evidence(life: Life, budget_gb: float) -> str:
    """The first sign that memory ran out during this life, in words; "" when none."""
    log = life.log.lower()
    if marker := next((m for m in OOM_MARKERS if m in log), None):
        return f"engine.log says {marker!r}"
    if life.oom_kills:
        return "the kernel's out-of-memory killer struck while it ran"
    if not life.steps:
        return ""
    last = life.steps[-1]
    peak = last.get("mem_peak_gb") or 0.0
    if budget_gb and peak >= NEAR_BUDGET * budget_gb:
        return f"its last step's MLX peak {peak:.2f} GB was near the {budget_gb:.2f} GB budget"
    total = (last.get("sys_used_gb") or 0.0) + (last.get("sys_available_gb") or 0.0)
    if total and (last.get("sys_available_gb") or 0.0) < LOW_AVAILABLE * total:
        return f"the machine had only {last['sys_available_gb']:.2f} GB of its RAM available"
    swap_growth = (last.get("swap_used_gb") or 0.0) - (life.steps[0].get("swap_used_gb") or 0.0)
    if swap_growth > SWAP_GROWTH_GB:
        return f"the machine was swapping ({swap_growth:.2f} GB more swap in use)"
    return ""


def _calm(life: Life, budget_gb: float) -> str:
    if not life.steps:
        return "it died before its first step, with no memory error in engine.log"
    last = life.steps[-1]
    return (
        f"last MLX peak {last.get('mem_peak_gb') or 0:.2f} GB of a {budget_gb:.2f} GB budget, "
        f"{last.get('sys_available_gb') or 0:.1f} GB of RAM available, no memory error in "
        f"engine.log"
    )


def _last_error(log: str) -> str:
    """A rank's last error message (ranks other than 0 write no events, so they print their
    errors)."""
    errors = [line for line in log.splitlines() if line.startswith(ERROR_LINE)]
    return errors[-1][len(ERROR_LINE) :].split(": ", 1)[-1].strip() if errors else ""


def _steps(run_dir: Path, start: EngineStart) -> list[dict]:
    reader = EventReader(RunFolder(run_dir).events)
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
