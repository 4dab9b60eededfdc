"""DPO and ORPO runs through the real engine: the reward margin on the valid pairs rises, a
stop/resume trains bit-equal losses, validation metrics and final adapter, and data in the other
format is refused in words."""

from __future__ import annotations

import mlx.core as mx
import pytest

from farense_tui.engine import runs
from farense_tui.engine.runs import commands
from farense_tui.engine.training.reference_logprobs import REFERENCE_FILE
from tests.engine_helpers import events, losses, start_run, tiny_config, wait_done, wait_for
from tests.preference_helpers import write_preference_data

REWARDS = ("reward_chosen", "reward_rejected", "reward_margin", "reward_accuracy")


@pytest.fixture
def pref_data(farense_home):
    return write_preference_data(farense_home / "data" / "pref")


@pytest.mark.parametrize("objective", ["dpo", "orpo"])
def test_the_reward_margin_rises(tiny_model_dir, pref_data, objective):
    run_dir = start_run(tiny_config(tiny_model_dir, pref_data, objective=objective, beta=0.1))
    assert wait_done(run_dir).status == "finished"
    evals = events(run_dir, "eval")
    assert [e["step"] for e in evals] == [0, 4, 8, 12]
    margins = [e["reward_margin"] for e in evals]
    assert margins[-1] > margins[0] + 0.03, margins
    assert evals[-1]["reward_accuracy"] > evals[0]["reward_accuracy"], evals
    if (
        objective == "dpo"
    ):  # the reference is the starting model: no margin before a step (but rounding)
        assert abs(margins[0]) < 1e-3, margins
    steps = events(run_dir, "step")
    assert all(all(isinstance(s[k], float) for k in REWARDS) for s in steps)
    assert all(s["trained_tokens"] > 2 * 6 * s["step"] for s in steps)  # reply tokens, not pairs


def test_dpo_stop_and_resume_is_bit_equal(tiny_model_dir, pref_data):
    cfg = dict(objective="dpo", beta=0.1)
    straight = start_run(tiny_config(tiny_model_dir, pref_data, **cfg))
    wait_done(straight)

    run_dir = start_run(tiny_config(tiny_model_dir, pref_data, **cfg))
    wait_for(lambda: any(e["step"] >= 3 for e in events(run_dir, "step")), what="step 3")
    commands.send(run_dir, "stop")
    stopped = wait_done(run_dir)
    assert stopped.status == "stopped" and 3 <= stopped.checkpoint_step < 12
    assert (run_dir / REFERENCE_FILE).exists()
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished"

    assert losses(run_dir) == losses(straight) and len(losses(run_dir)) == 12
    later = {e["step"]: [e[k] for k in REWARDS] for e in events(run_dir, "eval")}
    assert later == {e["step"]: [e[k] for k in REWARDS] for e in events(straight, "eval")}
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "objective"]
    assert "read from" in notes[-1]  # the resume took the reference from the run's file
    final, reference = (
        mx.load(str(r / "final" / "adapters.safetensors")) for r in (run_dir, straight)
    )
    assert final.keys() == reference.keys()
    assert all(mx.array_equal(final[k], reference[k]).item() for k in final)


def test_data_in_the_other_format_is_refused(tiny_model_dir, pref_data, tiny_data):
    sft_on_pairs = start_run(tiny_config(tiny_model_dir, pref_data))
    dpo_on_chat = start_run(tiny_config(tiny_model_dir, tiny_data, objective="dpo"))
    for run_dir, said in (
        (sft_on_pairs, "set objective=dpo or orpo"),
        (dpo_on_chat, "dpo trains on preference pairs"),
    ):
        assert wait_done(run_dir).status == "failed"
        errors = [e["message"] for e in events(run_dir, "error")]
        assert errors and said in errors[0] and "train.jsonl:1:" in errors[0], errors


def test_dpo_on_two_ranks_trains_the_one_rank_losses_and_rewards(tiny_model_dir, pref_data):
    """Data-parallel DPO (2 local ranks through mlx.launch): each step's loss and the validation
    rewards are the 1-rank run's; the pairs' statistics are summed over ranks, not per rank."""
    cfg = dict(objective="dpo", beta=0.1, learning_rate=1e-3)
    one = start_run(tiny_config(tiny_model_dir, pref_data, **cfg))
    two_cfg = tiny_config(tiny_model_dir, pref_data, **cfg)
    two_cfg.ranks = 2
    two = start_run(two_cfg)
    assert wait_done(one).status == "finished" and wait_done(two).status == "finished"
    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) and len(a) == 12
    for step in a:
        assert abs(a[step] - b[step]) < 1e-4, (step, a[step], b[step])
    for kind in ("step", "eval"):
        for e1, e2 in zip(events(one, kind), events(two, kind), strict=True):
            for key in REWARDS:
                assert abs(e1[key] - e2[key]) < 1e-4, (kind, e1["step"], key, e1[key], e2[key])
    assert all(len(s["ranks"]) == 2 for s in events(two, "step"))
