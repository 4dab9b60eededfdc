"""The supervisor process: `python -m farense_tui.engine.runs.supervisor RUN_DIR`.

Started in its own session so it outlives the terminal (an SSH drop, a closed TUI). It runs the
engine process, and when that dies it says why (runs/diagnosis.py): out of memory only with
evidence, and then, with auto-recovery on, it restarts from the last checkpoint with smaller
settings (see profiles/downshift.py); killed or crashed, it restarts with the same settings. A
profile switch asked for by a user is a restart with the chosen profile.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from farense_tui.engine.files import write_pid
from farense_tui.engine.processes import (
    ENGINE,
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_OVER_BUDGET,
    EXIT_SWITCH,
    SUPERVISOR_ENV,
)
from farense_tui.engine.profiles.downshift import adopt, downshift, settings
from farense_tui.engine.profiles.profile import available_profiles, load_profile
from farense_tui.engine.runs import checkpoints as ckpt
from farense_tui.engine.runs import launch
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.diagnosis import Diagnosis, EngineStart, diagnose
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter, read_all
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.runs.training_state import TrainingState

MAX_RECOVERIES = 8


def run_engine(run_dir: Path) -> int:
    """Run the engine until it ends: one process, or every rank through mlx.launch (launch.py)."""
    run = RunFolder(run_dir)
    cfg = run.load_config()
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    with open(run.engine_log, "ab") as log:
        if cfg.distributed:
            return launch.run_ranks(cfg, run_dir, log, env)
        proc = subprocess.Popen(
            [sys.executable, "-m", ENGINE, str(run_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        return proc.wait()


def last_switch_profile(run_dir: Path) -> str | None:
    cmds = [c for c in read_all(RunFolder(run_dir).commands) if c.get("cmd") == "switch"]
    return cmds[-1].get("profile") if cmds else None


def record_failure(run_dir: Path, what: str) -> None:
    state = TrainingState.load(run_dir) or TrainingState()
    state.failures.append({"time": time.time(), "what": what})
    state.save(run_dir)


def supervise(run_dir: Path) -> int:
    run = RunFolder(run_dir)
    write_pid(run.supervisor_pid, os.getpid())
    events = EventWriter(run.events)
    recoveries, restarted_as_is_at = 0, None
    while True:
        start = EngineStart.now(run_dir)
        code = run_engine(run_dir)
        if code == EXIT_DONE:
            return 0
        cfg = run.load_config()
        if code == EXIT_SWITCH:
            target = load_profile(last_switch_profile(run_dir) or cfg.profile.name)
            before = settings(cfg.profile)
            cfg.profile = adopt(cfg.profile, target)
            cfg.save(run.config)
            events.emit(
                "recovery",
                message=f"switched to profile {target.name}",
                **{"from": before},
                to=settings(cfg.profile),
                resume_step=_resume_step(run_dir),
            )
            continue
        if code == EXIT_FAILED:
            return code  # a failure the engine already explained
        diagnosis = diagnose(code, run_dir, start, cfg.profile.memory_budget_gb)
        record_failure(run_dir, diagnosis.message)
        if not diagnosis.out_of_memory:
            # The same death again before a new checkpoint: restarting as is would only repeat it.
            again = restarted_as_is_at == _resume_step(run_dir)
            if not _restart_as_is(events, run_dir, cfg, diagnosis, recoveries, again):
                return code
            restarted_as_is_at = _resume_step(run_dir)
        elif not _restart_smaller(events, run_dir, cfg, diagnosis, recoveries, code):
            return code
        recoveries += 1


def _restart_as_is(
    events: EventWriter, run_dir: Path, cfg: RunConfig, d: Diagnosis, recoveries: int, again: bool
) -> bool:
    """Killed or crashed: never smaller. Restart as is with auto-recovery on, else offer it."""
    step = _resume_step(run_dir)
    events.emit(
        "error",
        kind="killed" if d.cause == "killed" else "crash",
        step=step,
        message=f"{d.message}; see {RunFolder(run_dir).engine_log}",
    )
    if not cfg.auto_recover or recoveries >= MAX_RECOVERIES or again:
        why = "; it died the same way before saving anything new" if again else ""
        events.emit(
            "state",
            state=State.FAILED,
            message=f"{d.message}{why}; resume it as is",
            recoverable=True,
        )
        return False
    events.emit(
        "recovery",
        message=f"{d.message}: restarting from {_where(step)} with the same settings",
        **{"from": settings(cfg.profile)},
        to=settings(cfg.profile),
        resume_step=step,
    )
    return True


def _restart_smaller(
    events: EventWriter, run_dir: Path, cfg: RunConfig, d: Diagnosis, recoveries: int, code: int
) -> bool:
    """Out of memory, with evidence: restart with smaller settings, or say what is suggested."""
    smaller = downshift(cfg.profile, available_profiles())
    if code != EXIT_OVER_BUDGET:  # an engine that stopped itself already wrote its error
        events.emit("error", kind="oom", step=_resume_step(run_dir), message=d.message)
    if not cfg.auto_recover or smaller is None or recoveries >= MAX_RECOVERIES:
        hint = f"; suggested: {smaller[1]}" if smaller else "; no smaller setting is left"
        events.emit(
            "state",
            state=State.FAILED,
            message=f"{d.message}{hint}",
            recoverable=smaller is not None,
        )
        return False
    new_profile, change = smaller
    events.emit(
        "recovery",
        message=f"{d.message}: restarting from {_where(_resume_step(run_dir))} with {change}",
        **{"from": settings(cfg.profile)},
        to=settings(new_profile),
        resume_step=_resume_step(run_dir),
    )
    cfg.profile = new_profile
    cfg.save(RunFolder(run_dir).config)
    return True


def _where(step: int) -> str:
    return f"the checkpoint of step {step}" if step else "step 0 (no checkpoint yet)"


def _resume_step(run_dir: Path) -> int:
    found = ckpt.latest_checkpoint(run_dir)
    return found[1].step if found else 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
