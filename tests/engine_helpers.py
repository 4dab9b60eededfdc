"""Start runs of the tiny model through the real supervisor and engine processes, and wait on
them."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from farense_tui.engine import runs
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.training.faults import FAULTS_ENV

TINY = dict(
    batch_size=2,
    grad_accumulation=2,
    iters=12,
    save_every=4,
    eval_every=4,
    warmup_steps=2,
    warmup_share=1.0,
    lora_layers=-1,
    learning_rate=1e-2,
    max_seq_length=256,
)


def tiny_config(model: Path, data: Path, **changes) -> RunConfig:
    profile = load_profile("cpu").replace(**{**TINY, **changes})
    return RunConfig(profile=profile, model=str(model), data=str(data))


def inject_faults(monkeypatch, **faults) -> None:
    """Faults for the engines this test starts (they inherit the environment), never in a run's
    files."""
    monkeypatch.setenv(FAULTS_ENV, json.dumps(faults))


def start_run(cfg: RunConfig) -> Path:
    run_dir = runs.create_run(cfg)
    runs.start(run_dir)
    return run_dir


def events(run_dir: Path, type_: str | None = None) -> list[dict]:
    return [e for e in read_all(run_dir / "events.jsonl") if type_ is None or e["type"] == type_]


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_done(run_dir: Path, timeout: float = 180.0) -> runs.RunInfo:
    wait_for(lambda: not runs.is_alive(run_dir), timeout, f"run {run_dir.name} to end")
    return runs.info(run_dir)


def losses(run_dir: Path) -> dict[int, float]:
    """Loss by step; after a resume the later value for a step wins."""
    return {e["step"]: e["loss"] for e in events(run_dir, "step")}


def kill(pid_file: Path) -> None:
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
