"""The kill soak's short version (bench/soak_kill.py runs 50): five `kill -9`s of the engine or the
supervisor at random moments, including inside checkpoint writes and the same-step double save; each
run ends like the uninterrupted one, never restarts below a complete checkpoint, never
downshifts."""

from __future__ import annotations

from bench.soak_kill import run_soak


def test_five_random_kills_each_end_like_the_uninterrupted_run(
    tiny_model_dir, tiny_data, monkeypatch
):
    monkeypatch.setenv("FARENSE_FAULTS", "")  # run_soak sets its own; restored after the test
    trials = run_soak(5, tiny_model_dir, tiny_data, seed=11, log=lambda line: None)
    landed = [t for t in trials if t.killed_at_step is not None]
    assert len(landed) >= 4, trials  # a kill is lost only if its run ended before its moment came
    failed = [t for t in trials if not t.ok]
    assert not failed, failed
