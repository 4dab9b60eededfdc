"""Typed run events: the writer refuses fields a record does not have; readers skip what they don't
know."""

from __future__ import annotations

import json

import pytest

from farense_tui.engine.runs.event_types import ENDED, RecoveryEvent, State, StepEvent, parse_event
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.status import RunStatus


def test_writer_checks_each_event_against_its_record(tmp_path):
    writer = EventWriter(tmp_path / "events.jsonl")
    written = writer.emit(
        "recovery",
        message="oom",
        resume_step=3,
        to={"batch_size": 2},
        **{"from": {"batch_size": 4}},
    )
    with pytest.raises(TypeError, match="no field"):
        writer.emit("step", stpe=1)
    with pytest.raises(TypeError, match="unknown event type"):
        writer.emit("stepp", step=1)
    writer.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [written]  # the refused ones were never written
    record = parse_event(written)
    assert (
        isinstance(record, RecoveryEvent)
        and record.before == {"batch_size": 4}
        and record.resume_step == 3
    )


def test_readers_skip_unknown_types_and_keys():
    assert parse_event({"type": "telemetry", "x": 1}) is None
    assert parse_event(["not", "an", "event"]) is None
    step = parse_event({"type": "step", "time": 5.0, "step": 2, "loss": 1.5, "added_later": True})
    assert isinstance(step, StepEvent) and (step.step, step.loss, step.time) == (2, 1.5, 5.0)
    status = RunStatus()
    status.add_events(
        [{"type": "telemetry"}, {"type": "step", "time": 5.0, "step": 2, "total_steps": 9}]
    )
    assert (status.events_seen, status.step, status.total_steps) == (1, 2, 9)


def test_states_compare_and_print_as_the_events_spell_them():
    assert (
        State("paused") is State.PAUSED
        and State.PAUSED == "paused"
        and f"{State.PAUSED}" == "paused"
    )
    assert {str(s) for s in ENDED} == {"finished", "stopped", "failed"}
    assert State.FAILED.ended and not State.PAUSED.ended and not State.DEAD.ended
