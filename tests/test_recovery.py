"""Out-of-memory recovery: the supervisor restarts from the last checkpoint with smaller
settings."""

from __future__ import annotations

import mlx.core as mx

from farense_tui.engine import runs
from farense_tui.engine.profiles.downshift import downshift
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.training_state import TrainingState
from tests.engine_helpers import events, inject_faults, losses, start_run, tiny_config, wait_done


def test_abort_like_metal_oom_restarts_with_half_batch_double_accumulation(
    tiny_model_dir, tiny_data, monkeypatch
):
    inject_faults(monkeypatch, abort_at_step=7)
    cfg = tiny_config(tiny_model_dir, tiny_data)
    run_dir = start_run(cfg)
    info = wait_done(run_dir)
    assert info.status == "finished", (run_dir / "engine.log").read_text()[-2000:]

    error = next(e for e in events(run_dir, "error"))
    assert error["kind"] == "oom" and "SIGABRT" in error["message"]
    recovery = events(run_dir, "recovery")
    assert len(recovery) == 1
    r = recovery[0]
    assert (r["from"]["batch_size"], r["from"]["grad_accumulation"]) == (2, 2)
    assert (r["to"]["batch_size"], r["to"]["grad_accumulation"]) == (1, 4)  # same effective batch
    assert r["resume_step"] == 4

    steps = [e["step"] for e in events(run_dir, "step")]
    assert steps == list(range(1, 8)) + list(
        range(5, 13)
    )  # nothing before the checkpoint is redone
    assert sorted(losses(run_dir)) == list(range(1, 13))
    assert (run_dir / "final" / "adapters.safetensors").exists()
    assert RunConfig.load(run_dir / "config.toml").profile.batch_size == 1
    failures = TrainingState.load(run_dir).failures
    assert [f["what"] for f in failures] == [error["message"]]


def test_budget_too_small_walks_down_every_setting_then_gives_up(tiny_model_dir, tiny_data):
    cfg = tiny_config(
        tiny_model_dir, tiny_data, memory_budget_gb=0.002, batch_size=2, max_seq_length=128
    )
    run_dir = start_run(cfg)
    info = wait_done(run_dir)
    assert info.status == "failed" and not runs.is_alive(run_dir)
    budget_errors = [e for e in events(run_dir, "error") if e["kind"] == "budget"]
    assert budget_errors and "over the profile's budget" in budget_errors[0]["message"]
    changes = [
        (r["to"]["batch_size"], r["to"]["grad_accumulation"], r["to"]["max_seq_length"])
        for r in events(run_dir, "recovery")
    ]
    assert changes == [(1, 4, 128), (1, 4, 64)]
    assert "no smaller setting is left" in events(run_dir, "state")[-1]["message"]


def test_recovery_off_offers_the_choice_and_resume_smaller_continues(
    tiny_model_dir, tiny_data, monkeypatch
):
    inject_faults(monkeypatch, abort_at_step=6)
    cfg = tiny_config(tiny_model_dir, tiny_data)
    cfg.auto_recover = False
    run_dir = start_run(cfg)
    info = wait_done(run_dir)
    assert info.status == "failed" and info.recoverable
    assert "suggested: batch 2→1, accumulation 2→4" in info.message
    runs.resume(run_dir, smaller=True)
    assert wait_done(run_dir).status == "finished"
    by_hand = events(run_dir, "recovery")
    assert [r["message"] for r in by_hand] == ["resumed by hand with batch 2→1, accumulation 2→4"]
    assert by_hand[0]["resume_step"] == 4
    assert RunConfig.load(run_dir / "config.toml").profile.batch_size == 1


def test_downshift_order():
    p = load_profile("mac-16gb")
    from farense_tui.engine.profiles.profile import available_profiles

    profiles = available_profiles()
    steps = []
    while (shifted := downshift(p, profiles)) is not None and len(steps) < 12:
        p, what = shifted
        steps.append(what)
        assert p.effective_batch == 8
    assert steps[:2] == ["batch 4→2, accumulation 2→4", "batch 2→1, accumulation 4→8"]
    assert steps[2] == "sequence 512→256"
    assert any(s.startswith("profile mac-16gb→mac-8gb") for s in steps)


def test_switching_profile_by_hand_continues_from_the_saved_step(
    tiny_model_dir, tiny_data, farense_home
):
    from farense_tui.engine.profiles.profile import save_profile

    save_profile(
        load_profile("cpu").replace(
            name="small", batch_size=1, max_seq_length=128, memory_budget_gb=4.0
        )
    )
    run_dir = start_run(
        tiny_config(tiny_model_dir, tiny_data, iters=40, save_every=100, eval_every=100)
    )
    from tests.engine_helpers import wait_for

    wait_for(lambda: events(run_dir, "step"), what="first step")
    commands.send(run_dir, "switch", profile="small")
    switched = wait_for(lambda: events(run_dir, "recovery"), 60, "the switch")
    info = wait_done(run_dir)
    assert info.status == "finished"
    r = switched[0]
    assert r["message"] == "switched to profile small"
    assert (r["to"]["profile"], r["to"]["batch_size"], r["to"]["grad_accumulation"]) == (
        "small",
        1,
        4,
    )
    assert r["to"]["max_seq_length"] == 128 and r["to"]["memory_budget_gb"] == 4.0
    saved_at = next(e["step"] for e in events(run_dir, "checkpoint") if e["reason"] == "switch")
    assert r["resume_step"] == saved_at
    steps = [e["step"] for e in events(run_dir, "step")]
    after = steps[steps.index(saved_at) + 1 :]
    assert after == list(
        range(saved_at + 1, 41)
    )  # continues from the switch, nothing lost or redone
    cfg = RunConfig.load(run_dir / "config.toml")
    assert cfg.profile.name == "small" and cfg.profile.learning_rate == 1e-2  # schedule kept


def test_allocation_error_mid_step_checkpoints_the_last_good_step_and_downshifts(
    tiny_model_dir, tiny_data, monkeypatch
):
    """MLX raising "Unable to allocate" (as on Metal) after step 6's first micro-batch: step 6 is
    taken back, step 5 is saved, and the run goes on with batch 1 x 4 exactly as it would have with
    2 x 2."""
    from tests.test_token_normalisation import train_in_process

    cfg = tiny_config(tiny_model_dir, tiny_data, learning_rate=1e-3)
    reference_losses, reference_weights = train_in_process(cfg)
    inject_faults(monkeypatch, alloc_error_at_step=6)
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, learning_rate=1e-3))
    assert wait_done(run_dir).status == "finished"

    error = next(e for e in events(run_dir, "error"))
    assert (
        error["kind"] == "oom" and error["step"] == 5 and "Unable to allocate" in error["message"]
    )
    assert [(c["step"], c["reason"]) for c in events(run_dir, "checkpoint")][:2] == [
        (4, "periodic"),
        (5, "allocation"),
    ]
    (recovery,) = events(run_dir, "recovery")
    assert recovery["resume_step"] == 5 and (
        recovery["to"]["batch_size"],
        recovery["to"]["grad_accumulation"],
    ) == (1, 4)
    assert [e["step"] for e in events(run_dir, "step")] == list(
        range(1, 13)
    )  # step 6 trained once, after
    resumed = losses(run_dir)
    assert all(abs(resumed[s] - reference_losses[s]) < 1e-4 for s in reference_losses), (
        resumed,
        reference_losses,
    )
    weights = mx.load(str(run_dir / "final" / "adapters.safetensors"))
    assert max(mx.abs(weights[k] - reference_weights[k]).max().item() for k in weights) < 1e-4
