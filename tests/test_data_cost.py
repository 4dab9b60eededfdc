"""What a data set costs with a profile (steps, tokens per step) and the time per epoch from the
speed this machine measured in earlier runs of the same model."""

from __future__ import annotations

import json
from pathlib import Path

from farense_tui.cli.main import main
from farense_tui.engine import runs
from farense_tui.engine.data.cost import cost_lines, data_cost
from farense_tui.engine.data.report import DataReport, SplitReport
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.speed import MeasuredSpeed, measured_speed


def report(lengths: list[int], unit: str = "tokens") -> DataReport:
    train = SplitReport(
        "train",
        Path("train.jsonl"),
        count=len(lengths),
        format="text",
        token_lengths=lengths,
        length_unit=unit,
    )
    return DataReport(Path("."), {"train": train}, 64, "tok" if unit == "tokens" else None)


def fabricated_run(run_id: str, model: str, steps: list[tuple[int | None, float]]) -> Path:
    """A run folder of `model` whose step events say (input_tokens, step_time)."""
    run_dir = runs.create_run(
        RunConfig(profile=load_profile("cpu"), model=model, data="/d", run_id=run_id)
    )
    with open(run_dir / "events.jsonl", "w") as fh:
        for i, (tokens, seconds) in enumerate(steps, 1):
            event = {
                "type": "step",
                "time": 1.0 + i,
                "step": i,
                "total_steps": 9,
                "step_time": seconds,
            }
            fh.write(json.dumps(event | ({"input_tokens": tokens} if tokens else {})) + "\n")
    return run_dir


def test_steps_follow_training_order_and_tokens_are_capped_at_max_seq_length():
    # 11 examples, effective batch 2x2: 2 steps per epoch, the 3 longest left out as training leaves
    # them
    profile = load_profile("cpu").replace(
        batch_size=2, grad_accumulation=2, max_seq_length=64, epochs=3, iters=0, warmup_steps=1
    )
    cost = data_cost(report([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]), profile)
    assert (cost.examples, cost.steps_per_epoch, cost.total_steps) == (11, 2, 6)
    assert cost.tokens_per_step == (10 + 20 + 30 + 40 + 50 + 60 + 64 + 64) // 2
    assert data_cost(report([10] * 11), profile.replace(iters=25)).total_steps == 25
    assert data_cost(report([10] * 11, unit="characters"), profile).tokens_per_step is None

    speed = MeasuredSpeed(tokens_per_sec=169.0, steps=40, run_id="20261127-100000-tiny")
    lines = cost_lines(cost, profile, speed)
    assert lines[0] == "11 examples: 2 steps/epoch, 6 steps (3 epochs)"
    assert lines[1] == "169 tokens/step (batch 2×2)"
    assert lines[2].startswith(
        "~0:02 per epoch (training steps only) at 169 tok/s"
    )  # 2 steps x 1 s
    assert lines[3] == "  the median of 40 steps of run 20261127-100000-tiny"
    assert (
        cost_lines(cost, profile, None)[-1]
        == "time per epoch: not measured yet (any run of this model measures it)"
    )


def test_speed_is_the_median_of_the_newest_measured_run_of_the_same_model(tmp_path):
    model = tmp_path / "tiny"
    model.mkdir()
    fabricated_run("20260101-100000-tiny", str(model), [(100, 1.0)] * 3)
    fabricated_run(
        "20260102-100000-tiny", str(model), [(900, 9.0), (200, 1.0), (300, 1.0), (250, 1.0)]
    )
    fabricated_run("20260103-100000-other", str(tmp_path / "other"), [(999, 1.0)])
    fabricated_run(
        "20260104-100000-tiny", str(model), [(None, 1.0)]
    )  # older engine: no input_tokens
    speed = measured_speed(str(model / ".." / "tiny"))  # the same folder, spelt another way
    assert speed == MeasuredSpeed(225.0, 4, "20260102-100000-tiny")  # median of 100, 200, 300, 250
    assert measured_speed(str(tmp_path / "none")) is None


def test_a_warm_up_cut_to_its_share_of_a_short_run_is_pointed_out():
    # mac-16gb's 100 warm-up steps suit a long run; on the demo's 111 steps warmup_share 0.1 cuts
    # them to 11
    profile = load_profile("mac-16gb").replace(batch_size=2, grad_accumulation=2, epochs=3, iters=0)
    lines = cost_lines(data_cost(report([10] * 150), profile), profile, None)
    assert lines[1] == "warm-up 11 of 111 steps (warmup_share 0.1; warmup_steps 100)"
    whole = profile.replace(
        warmup_share=1.0
    )  # no cut: a warm-up over most of the run is still said
    assert cost_lines(data_cost(report([10] * 150), whole), whole, None)[1] == (
        "warm-up 100 of 111 steps: peak learning rate only at step 100"
    )
    short = profile.replace(warmup_steps=55)  # just under half of the run: no line
    assert not any(
        line.startswith("warm-up")
        for line in cost_lines(data_cost(report([10] * 150), short), short, None)
    )


def test_data_check_with_a_profile_prints_the_cost(
    tmp_path, farense_home, tiny_model_dir, capsys, monkeypatch
):
    from tests import tiny_model

    monkeypatch.setenv("FARENSE_BLAS", "reference")
    data = tiny_model.write_text_data(tmp_path / "sql")
    fabricated_run("20260102-100000-tiny", str(tiny_model_dir), [(400, 2.0)] * 5)
    assert (
        main(["data", "check", str(data), "--model", str(tiny_model_dir), "--profile", "cpu"]) == 0
    )
    out = capsys.readouterr().out
    assert "train, valid: text format has no prompt to mask: training on all tokens" in out
    assert "16 examples: 2 steps/epoch, 10 steps (5 epochs)" in out  # cpu: batch 4x2, 5 epochs
    assert "tokens/step (batch 4×2)" in out
    assert (
        "per epoch (training steps only) at 200 tok/s" in out
        and "5 steps of run 20260102-100000-tiny" in out
    )
