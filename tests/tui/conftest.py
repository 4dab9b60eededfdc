"""TUI test fixtures: fixed hardware and clock, UTC times, fabricated runs, and polling helpers.

Every test already gets its own farense home (tests/conftest.py). Here the machine is pinned to
a fixed `Hardware` and times are UTC so screenshots are the same on any computer.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from farense_tui.engine import runs
from farense_tui.engine.machine import hardware
from farense_tui.engine.machine.hardware import Hardware
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs.config import RunConfig

FIXED_HARDWARE = Hardware(
    ram_total_gb=16.0,
    ram_available_gb=9.5,
    swap_used_gb=0.0,
    chip="Apple M1 (fixed for tests)",
    mlx_device="gpu (applegpu_g13g), mlx 0.32.4",
    has_gpu=True,
    blas="Accelerate",
)
T0 = 1767268800.0  # 2026-01-01 12:00:00 UTC: the time fabricated runs start


@pytest.fixture(autouse=True)
def fixed_machine(monkeypatch):
    """The same machine and time zone everywhere, so profile choice and times never vary."""
    monkeypatch.setattr(hardware, "detect", lambda: FIXED_HARDWARE)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def wait_until(pilot, predicate, timeout: float = 60.0, what: str = "condition"):
    """Let the app run until `predicate()` is true (polling; never one long sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def click_laid_out(pilot, selector: str) -> None:
    """Click a widget of the current screen once it has a region: a click on a dialog before its
    first layout lands at 0,0 and misses (seen under load)."""
    await wait_until(
        pilot,
        lambda: pilot.app.screen.query_one(selector).region.width > 0,
        what=f"{selector} laid out",
    )
    await pilot.click(selector)


def event_types(run_dir: Path, type_: str = "state") -> list[str]:
    out = []
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["type"] == type_:
            out.append(e.get("state", e["type"]))
    return out


def fabricate_run(
    run_id: str,
    events: list[dict],
    *,
    model: str = "/models/tiny-llama",
    profile: str = "mac-16gb",
    **changes,
) -> Path:
    """A run folder written by hand (config + events), as an engine would leave it; no process."""
    cfg = RunConfig(
        profile=load_profile(profile).replace(**changes),
        model=model,
        data="/data/farense",
        run_id=run_id,
    )
    run_dir = runs.create_run(cfg)
    with open(run_dir / "events.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
    return run_dir


def step_event(step: int, total: int, t: float, loss: float, **extra) -> dict:
    return {
        "type": "step",
        "time": t,
        "step": step,
        "total_steps": total,
        "epoch": 1 + (step - 1) * 3 // total,
        "loss": loss,
        "learning_rate": 2e-4,
        "tokens_per_sec": 812.5,
        "step_time": 1.9,
        "trained_tokens": step * 3100,
        "mem_active_gb": 4.1,
        "mem_peak_gb": 6.2,
        "mem_cache_gb": 0.4,
        "rss_gb": 5.0,
        "sys_used_gb": 11.0,
        "sys_available_gb": 5.0,
        "swap_used_gb": 0.0,
        **extra,
    }


def training_history(total: int = 30, upto: int = 18, recovery_at: int | None = 10) -> list[dict]:
    """Events of a run: loading, eval at 0, steps with evals and checkpoints, an OOM recovery."""
    t = T0
    ev = [
        {"type": "state", "time": t, "state": "loading", "message": "loading /models/tiny-llama"},
        {"type": "state", "time": t + 5, "state": "evaluating", "message": "validation at step 0"},
        {
            "type": "eval",
            "time": t + 9,
            "step": 0,
            "val_loss": 3.21,
            "is_best": False,
            "best_val_loss": None,
            "eval_time": 4.0,
        },
        {"type": "state", "time": t + 9, "state": "training", "message": f"step 0/{total}"},
    ]
    t += 9
    best = None
    for step in range(1, upto + 1):
        t += 2.0
        ev.append(step_event(step, total, t, round(3.0 - step * 0.08, 4)))
        if step % 5 == 0:
            val = round(3.1 - step * 0.07, 4)
            best = val if best is None else min(best, val)
            ev.append(
                {
                    "type": "eval",
                    "time": t + 1,
                    "step": step,
                    "val_loss": val,
                    "is_best": val == best,
                    "best_val_loss": best,
                    "eval_time": 1.0,
                }
            )
            ev.append(
                {
                    "type": "checkpoint",
                    "time": t + 1.5,
                    "step": step,
                    "path": f"checkpoints/step-{step:07d}",
                    "reason": "periodic",
                }
            )
            t += 2
        if recovery_at and step == recovery_at:
            ev.append(
                {
                    "type": "error",
                    "time": t + 0.5,
                    "kind": "oom",
                    "step": step,
                    "message": "the engine process died with SIGABRT (most likely out of memory)",
                }
            )
            ev.append(
                {
                    "type": "recovery",
                    "time": t + 1,
                    "message": "the engine process died with SIGABRT (most likely out of memory): "
                    "restarting from the last checkpoint with batch 4→2, accumulation 2→4",
                    "from": {
                        "profile": "mac-16gb",
                        "batch_size": 4,
                        "grad_accumulation": 2,
                        "max_seq_length": 512,
                        "memory_budget_gb": 11.0,
                    },
                    "to": {
                        "profile": "mac-16gb",
                        "batch_size": 2,
                        "grad_accumulation": 4,
                        "max_seq_length": 512,
                        "memory_budget_gb": 11.0,
                    },
                    "resume_step": step,
                }
            )
            ev.append(
                {
                    "type": "state",
                    "time": t + 2,
                    "state": "loading",
                    "message": "loading /models/tiny-llama",
                }
            )
            ev.append(
                {
                    "type": "state",
                    "time": t + 6,
                    "state": "training",
                    "message": f"resumed from step-{step:07d} (step {step})",
                }
            )
            t += 6
    return ev


@pytest.fixture
def home_model(farense_home, tiny_model_dir) -> Path:
    """The tiny model copied into the home's models/ folder, as a user's own model would be."""
    return Path(shutil.copytree(tiny_model_dir, farense_home / "models" / "tiny-llama"))


@pytest.fixture(autouse=True)
def reap_runs(farense_home):
    """Stop every run a test left running, so no engine keeps using the CPU after it."""
    yield
    import psutil

    for run_dir in (farense_home / "runs").glob("*"):
        if (run_dir / "supervisor.pid").exists() and runs.is_alive(run_dir):
            try:
                sup = psutil.Process(int((run_dir / "supervisor.pid").read_text()))
                for proc in [*sup.children(recursive=True), sup]:
                    proc.kill()
            except (psutil.Error, ValueError, OSError):
                pass


def kill_engine(run_dir: Path) -> None:
    """Kill a run's supervisor and engine with SIGKILL, leaving its state 'training': a dead run."""
    import psutil

    sup = psutil.Process(int((run_dir / "supervisor.pid").read_text()))
    children = sup.children(recursive=True)
    sup.kill()  # first, so it cannot see its engine die and recover
    for proc in children:
        proc.kill()
    psutil.wait_procs([sup, *children], timeout=10)
