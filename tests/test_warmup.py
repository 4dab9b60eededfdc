"""The warm-up never takes most of a short run: warmup_steps, capped at warmup_share of the run."""

from __future__ import annotations

import json

import pytest

from farense_tui.engine import runs
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.training.setup import schedule, schedule_note
from tests.engine_helpers import events, start_run, tiny_config, wait_done, wait_for


@pytest.mark.parametrize("total, used", [(111, 11), (2000, 100), (5, 0)])
def test_the_warm_up_is_at_most_its_share_of_the_run(total, used):
    profile = load_profile("mac-16gb")  # warmup_steps 100, warmup_share 0.1
    assert profile.warmup_for(total) == used
    lr = schedule(profile, total)
    assert lr(used).item() == pytest.approx(profile.learning_rate)
    assert used == 0 or lr(used - 1).item() < profile.learning_rate


def test_a_whole_share_still_peaks_before_the_last_step():
    profile = load_profile("mac-16gb").replace(warmup_share=1.0, warmup_steps=500)
    assert profile.warmup_for(111) == 110


def test_the_run_says_the_warm_up_it_used_and_its_learning_rate_peaks_there(
    tiny_model_dir, tiny_data
):
    cfg = tiny_config(
        tiny_model_dir, tiny_data, warmup_steps=100, warmup_share=0.25, eval_every=100
    )
    run_dir = start_run(cfg)
    assert wait_done(run_dir).status == "finished"
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "schedule"]
    assert notes == [schedule_note(cfg.profile, 12)]
    assert notes[0].startswith(
        "warm-up 3 steps (warmup_steps 100, at most warmup_share 0.25 of 12 steps)"
    )
    # A step's event carries the rate its update used: schedule(step - 1), so the peak is at step 4.
    lrs = [e["learning_rate"] for e in events(run_dir, "step")]
    assert lrs.index(max(lrs)) == 3 and lrs[:4] == sorted(lrs[:4])


def test_a_run_stopped_before_warmup_share_existed_resumes_with_a_whole_share(
    tiny_model_dir, tiny_data
):
    """Its config and checkpoint have no warmup_share: it meant the old, uncapped warm-up (1.0)."""
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, warmup_steps=6, iters=12))
    wait_for(lambda: any(e["step"] >= 5 for e in events(run_dir, "step")), what="step 5")
    commands.send(run_dir, "stop")
    stopped = wait_done(run_dir)
    stopped_at = stopped.checkpoint_step
    assert stopped.status == "stopped" and 4 <= stopped_at < 12
    before = {e["step"]: e["learning_rate"] for e in events(run_dir, "step")}
    config = run_dir / "config.toml"
    config.write_text(
        "\n".join(
            line for line in config.read_text().splitlines() if not line.startswith("warmup_share")
        )
        + "\n"
    )
    for record in [run_dir / "training_state.json", *run_dir.glob("checkpoints/step-*/state.json")]:
        saved = json.loads(record.read_text())
        del saved["training_key"]["warmup_share"]
        record.write_text(json.dumps(saved))
    assert RunConfig.load(config).profile.warmup_share == 1.0

    runs.resume(run_dir)
    info = wait_done(run_dir)
    assert info.status == "finished", [e.get("message") for e in events(run_dir, "error")]
    rates = {e["step"]: e["learning_rate"] for e in events(run_dir, "step")}
    assert all(rates[s] == before[s] for s in range(1, stopped_at + 1))
    assert rates[7] == max(
        rates.values()
    )  # the whole 6-step warm-up: the peak at step 7, as before
