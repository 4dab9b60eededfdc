"""Controls and guards decide, the Trainer applies: what each returns for a command or a finding,
with every state a State (the in-process and end-to-end runs in test_engine_resume.py and
test_recovery.py show the Trainer carrying them out)."""

from __future__ import annotations

import math

import pytest

from farense_tui.engine.processes import (
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_OVER_BUDGET,
    EXIT_SWITCH,
    SUPERVISOR_ENV,
    WATCHER_ENV,
)
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.training import guards
from farense_tui.engine.training.controls import Controls
from farense_tui.engine.training.memory_watch import MemoryWatch


def test_a_nan_loss_fails_the_run_without_saving():
    assert guards.check_loss(7, 2.5) is None
    verdict = guards.check_loss(7, math.nan)
    assert (verdict.kind, verdict.exit_code, verdict.failed, verdict.save) == (
        "nan",
        EXIT_FAILED,
        True,
        "",
    )
    assert verdict.message.startswith("loss became nan at step 7; the last good checkpoint is kept")


def test_over_the_budget_saves_and_asks_for_smaller_settings():
    p = load_profile("cpu").replace(memory_budget_gb=2.0)
    watch = MemoryWatch(p.memory_budget_gb, p.backend)
    mem = {"mem_peak_gb": 1.0, "swap_used_gb": watch.swap_at_start}
    assert guards.check_memory(watch, p, mem) == ([], None)
    warnings, verdict = guards.check_memory(watch, p, {**mem, "mem_peak_gb": 2.5})
    assert len(warnings) == 1 and "over 90% of the" in warnings[0]
    assert (verdict.kind, verdict.exit_code, verdict.save) == ("budget", EXIT_OVER_BUDGET, "budget")
    assert not verdict.failed


def test_an_allocation_error_mid_step_takes_the_step_back_first():
    verdict = guards.allocation_failed(
        RuntimeError("[metal::malloc] Unable to allocate 8 bytes"), mid_step=True
    )
    assert (verdict.kind, verdict.exit_code, verdict.save, verdict.take_back_step) == (
        "oom",
        EXIT_OVER_BUDGET,
        "allocation",
        True,
    )
    assert not guards.allocation_failed(
        RuntimeError("out of memory"), mid_step=False
    ).take_back_step
    with pytest.raises(RuntimeError, match="a bug"):
        guards.allocation_failed(RuntimeError("a bug"), mid_step=False)


def test_commands_become_what_the_trainer_does(tmp_path, monkeypatch):
    monkeypatch.delenv(SUPERVISOR_ENV, raising=False)
    monkeypatch.delenv(WATCHER_ENV, raising=False)
    controls = Controls(tmp_path)  # its supervisor: this process's parent, alive
    for sent in ("pause", "pause", "resume", "save"):
        commands.send(tmp_path, sent)
    paused, resumed, save = list(controls.between_steps(5, takes_commands=True))
    assert (paused.state, paused.message, paused.exit_code) == (
        State.PAUSED,
        "paused at step 5",
        None,
    )
    assert (resumed.state, resumed.message) == (State.TRAINING, "resumed at step 5")
    assert (save.state, save.save, save.exit_code) == (None, "save-now", None)

    commands.send(tmp_path, "stop")
    [stop] = controls.between_steps(6, takes_commands=True)
    assert (stop.state, stop.save, stop.then, stop.exit_code) == (
        State.STOPPING,
        "stop",
        (State.STOPPED, "stopped at step 6; resume any time"),
        EXIT_DONE,
    )
    commands.send(tmp_path, "switch", profile="small")
    [switch] = controls.between_steps(6, takes_commands=True)
    assert (switch.state, switch.message, switch.save, switch.exit_code) == (
        State.SWITCHING,
        "switching to profile small",
        "switch",
        EXIT_SWITCH,
    )
    commands.send(tmp_path, "stop")
    assert list(controls.between_steps(7, takes_commands=False)) == []  # only rank 0 takes commands
