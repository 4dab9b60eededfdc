"""RunStatus: the figures the header and the Training screen show, folded from events."""

from __future__ import annotations

from pathlib import Path

from farense_tui.engine.runs import status as run_status
from farense_tui.engine.runs.event_types import parse_event
from farense_tui.engine.runs.status import (
    RunStatus,
    describe_event,
    describe_recovery,
    fmt_duration,
    recovery_change,
)
from tests.tui.conftest import T0, training_history


def test_figures_eta_and_log_come_from_the_events(monkeypatch):
    monkeypatch.setattr(run_status, "clock", lambda: T0 + 100)
    s = RunStatus(run_dir=Path("/runs/x"), log_every=10)
    s.alive = True
    notable = s.add_events(training_history(total=30, upto=18, recovery_at=10))
    assert (s.status, s.step, s.total_steps, s.loss, s.best_val_loss) == (
        "training",
        18,
        30,
        1.56,
        2.05,
    )
    assert s.last_recovery.resume_step == 10 and s.profile == "mac-16gb"
    # the pace since the restart (2 s a step, plus an evaluation every 5) for the 12 steps left
    assert round(s.eta, 1) == 27.4 and fmt_duration(s.eta) == "0:27"
    loading = [
        e["time"]
        for e in training_history(total=30, upto=18, recovery_at=10)
        if e.get("state") == "loading"
    ]
    assert s.elapsed == T0 + 100 - loading[-1]  # since the engine last started loading
    kinds = [e["type"] for e in notable]
    assert kinds.count("step") == 1 and "recovery" in kinds and "error" in kinds  # step 10 only
    # the state changes around every evaluation are not logged, the restart is
    states = [e["state"] for e in notable if e["type"] == "state"]
    assert states == ["loading", "loading", "training"]


def test_a_run_whose_process_is_gone_is_dead_and_needs_a_choice():
    s = RunStatus(run_dir=Path("/runs/x"))
    s.add_events(training_history(total=30, upto=3, recovery_at=None))
    s.alive = False
    assert s.status == "dead" and s.needs_choice
    s.add_events(
        [
            {
                "type": "state",
                "time": T0 + 99,
                "state": "failed",
                "message": "oom",
                "recoverable": True,
            }
        ]
    )
    assert s.status == "failed" and s.needs_choice
    s.add_events([{"type": "state", "time": T0 + 99, "state": "stopped", "message": ""}])
    assert s.status == "stopped" and not s.needs_choice


def test_recovery_change_names_what_changed():
    e = {
        "type": "recovery",
        "from": {"batch_size": 4, "grad_accumulation": 2, "max_seq_length": 512},
        "to": {"batch_size": 2, "grad_accumulation": 4, "max_seq_length": 512},
    }
    assert recovery_change(parse_event(e)) == "batch 4→2, accumulation 2→4"


def test_a_recovery_is_worded_once_for_log_banner_and_toast():
    e = {
        "type": "recovery",
        "message": "resumed by hand with profile cpu",
        "resume_step": 40,
        "from": {"batch_size": 4},
        "to": {"batch_size": 2},
    }
    assert describe_recovery(e) == "resumed by hand with profile cpu; now batch 4→2"
    assert (
        describe_event(e)
        == "resumed by hand with profile cpu; now batch 4→2; continues from step 40"
    )
    said = dict(e, message="out of memory: restarting with batch 4→2")
    assert describe_recovery(said) == "out of memory: restarting with batch 4→2"  # not said twice


def test_total_steps_known_from_state_events_before_the_first_step():
    status = RunStatus()
    status.add_events(
        [
            {
                "type": "state",
                "time": 1.0,
                "state": "evaluating",
                "message": "validation at step 0",
                "step": 0,
                "total_steps": 111,
            }
        ]
    )
    assert (status.step, status.total_steps) == (0, 111)
