"""The supervisor process: `python -m farense_tui.engine.runs.supervisor RUN_DIR`.

Started in its own session so it outlives the terminal (an SSH drop, a closed TUI). It runs the
engine process, and when that dies of memory (a signal such as Metal's abort, an MLX allocation
error, or the engine's own budget stop) it records the failure and, with auto-recovery on,
restarts from the last checkpoint with smaller settings (see profiles/downshift.py). A profile switch
asked for by a user is a restart with the chosen profile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from farense_tui.engine.runs import checkpoints as ckpt
from farense_tui.engine.runs.events import EventWriter, read_all
from farense_tui.engine.profiles.profile import available_profiles, load_profile
from farense_tui.engine.profiles.downshift import adopt, downshift, settings
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.exit_codes import EXIT_DONE, EXIT_OVER_BUDGET, EXIT_SWITCH
from farense_tui.engine.runs.training_state import TrainingState

MAX_RECOVERIES = 8
OOM_MARKERS = ("insufficient memory", "unable to allocate", "out of memory", "resource limit exceeded")


def run_engine(run_dir: Path) -> int:
    with open(run_dir / "engine.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "farense_tui.engine.training.engine_process", str(run_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        return proc.wait()


def _log_tail(run_dir: Path, nbytes: int = 4000) -> str:
    try:
        with open(run_dir / "engine.log", "rb") as fh:
            fh.seek(max(0, os.path.getsize(fh.name) - nbytes))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def describe_exit(code: int, run_dir: Path) -> tuple[str, bool]:
    """(what happened in words, whether it looks like running out of memory)."""
    tail = _log_tail(run_dir).lower()
    oom_text = any(m in tail for m in OOM_MARKERS)
    if code < 0:
        name = signal.Signals(-code).name
        reason = "out of memory" if oom_text or name in ("SIGABRT", "SIGSEGV", "SIGKILL", "SIGBUS") else "a crash"
        return f"the engine process died with {name} (most likely {reason})", reason == "out of memory"
    if code == EXIT_OVER_BUDGET:
        return "the engine stopped: memory over the profile's budget", True
    return f"the engine process exited with code {code}", oom_text


def last_switch_profile(run_dir: Path) -> str | None:
    cmds = [c for c in read_all(run_dir / "commands.jsonl") if c.get("cmd") == "switch"]
    return cmds[-1].get("profile") if cmds else None


def record_failure(run_dir: Path, what: str) -> None:
    state = TrainingState.load(run_dir) or TrainingState()
    state.failures.append({"time": time.time(), "what": what})
    state.save(run_dir)


def supervise(run_dir: Path) -> int:
    (run_dir / "supervisor.pid").write_text(str(os.getpid()))
    events = EventWriter(run_dir / "events.jsonl")
    recoveries = 0
    while True:
        code = run_engine(run_dir)
        if code == EXIT_DONE:
            return 0
        cfg = RunConfig.load(run_dir / "config.toml")
        if code == EXIT_SWITCH:
            target = load_profile(last_switch_profile(run_dir) or cfg.profile.name)
            before = settings(cfg.profile)
            cfg.profile = adopt(cfg.profile, target)
            cfg.save(run_dir / "config.toml")
            events.emit("recovery", message=f"switched to profile {target.name}", **{"from": before},
                        to=settings(cfg.profile), resume_step=_resume_step(run_dir))
            continue
        what, oom = describe_exit(code, run_dir)
        if not oom:
            if code != 1:  # exit 1 is a failure the engine already explained
                events.emit("error", kind="crash", step=_resume_step(run_dir),
                            message=f"{what}; see {run_dir / 'engine.log'}")
                events.emit("state", state="failed", message=what)
            return code
        record_failure(run_dir, what)
        smaller = downshift(cfg.profile, available_profiles())
        if code < 0:
            events.emit("error", kind="oom", step=_resume_step(run_dir), message=what)
        if not cfg.auto_recover or smaller is None or recoveries >= MAX_RECOVERIES:
            hint = f"; suggested: {smaller[1]}" if smaller else "; no smaller setting is left"
            events.emit("state", state="failed", message=f"{what}{hint}", recoverable=smaller is not None)
            return code
        new_profile, change = smaller
        events.emit(
            "recovery", message=f"{what}: restarting from the last checkpoint with {change}",
            **{"from": settings(cfg.profile)}, to=settings(new_profile), resume_step=_resume_step(run_dir),
        )
        cfg.profile = new_profile
        cfg.save(run_dir / "config.toml")
        recoveries += 1


def _resume_step(run_dir: Path) -> int:
    found = ckpt.latest_checkpoint(run_dir)
    return found[1].step if found else 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
