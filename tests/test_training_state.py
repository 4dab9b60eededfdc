"""training_state.json through TrainingState: round trip, files written before it, failures kept."""

from __future__ import annotations

import json

import mlx.core as mx

from farense_tui.engine.runs import checkpoints
from farense_tui.engine.runs.supervisor import record_failure
from farense_tui.engine.runs.training_state import TrainingState
from farense_tui.engine.training.checkpoint_writer import write_checkpoint

# As the engine wrote it before TrainingState existed, plus a key no version knows.
OLD_FILE = {
    "step": 8,
    "epoch": 2,
    "total_steps": 12,
    "data_position": {"seed": 0, "step_in_epoch": 2},
    "best_val_loss": 2.5,
    "best_step": 8,
    "evals_since_best": 0,
    "trained_tokens": 640,
    "restarts": 1,
    "config_hash": "abc123",
    "rng": {"seed": 0, "scheme": "mx.random.seed(seed * 1000003 + step) before each step"},
    "batch_size": 2,
    "grad_accumulation": 2,
    "max_seq_length": 256,
    "profile": "cpu",
    "saved_at": 1.5e9,
    "failures": [{"time": 1.4e9, "what": "the engine process died with SIGABRT"}],
    "checkpoint": "step-0000008",
    "from_a_later_version": True,
}


def test_round_trip_keeps_every_field(tmp_path):
    state = TrainingState(
        step=3,
        epoch=1,
        best_val_loss=None,
        config_hash="h",
        checkpoint="step-0000003",
        data_position={"seed": 1, "step_in_epoch": 3},
        failures=[{"time": 1.0, "what": "x"}],
    )
    state.save(tmp_path)
    assert TrainingState.load(tmp_path) == state
    assert TrainingState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_a_file_written_before_loads_with_its_keys_and_ignores_unknown_ones(tmp_path):
    (tmp_path / "training_state.json").write_text(json.dumps(OLD_FILE))
    state = TrainingState.load(tmp_path)
    assert (state.step, state.best_val_loss, state.restarts, state.checkpoint) == (
        8,
        2.5,
        1,
        "step-0000008",
    )
    assert state.failures == OLD_FILE["failures"]
    known = {k: v for k, v in OLD_FILE.items() if k != "from_a_later_version"}
    assert state.to_json() == {
        **known,
        "training_key": {},
    }  # its keys kept, the newer one added empty


def test_missing_or_partial_files(tmp_path):
    assert TrainingState.load(tmp_path) is None
    (tmp_path / "training_state.json").write_text('{"step": 4}')  # older still: most keys absent
    assert TrainingState.load(tmp_path) == TrainingState(step=4)
    (tmp_path / "training_state.json").write_text("[1, 2]")
    assert TrainingState.load(tmp_path) is None


def test_a_checkpoint_write_keeps_the_supervisors_failures(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    record_failure(tmp_path, "the engine process died with SIGABRT (most likely out of memory)")
    assert (
        checkpoints.latest_checkpoint(tmp_path) is None
    )  # a failure alone points at no checkpoint

    weights = {"layers.0.lora_a": mx.zeros((4, 2))}
    folder = write_checkpoint(
        tmp_path,
        weights,
        {"fine_tune_type": "lora"},
        {"m": mx.ones(3)},
        TrainingState(step=4, config_hash="h"),
    )
    found_folder, state = checkpoints.latest_checkpoint(tmp_path)
    assert found_folder == folder and state.step == 4 and state.checkpoint == "step-0000004"
    assert [f["what"] for f in state.failures] == [
        "the engine process died with SIGABRT (most likely out of memory)"
    ]
    assert json.loads((folder / "state.json").read_text()) == state.to_json()

    record_failure(tmp_path, "again")
    write_checkpoint(
        tmp_path, weights, {}, {"m": mx.ones(3)}, TrainingState(step=8, config_hash="h")
    )
    assert [f["what"] for f in TrainingState.load(tmp_path).failures][-1] == "again"
    assert TrainingState.load(tmp_path).step == 8
