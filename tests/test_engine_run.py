"""A whole run of the tiny model through supervisor and engine: events, checkpoints, adapters."""

from __future__ import annotations

import mlx.core as mx
from mlx_lm import generate, load

from farense_tui.engine import runs
from tests.engine_helpers import events, start_run, tiny_config, wait_done

STEP_FIELDS = {
    "step",
    "total_steps",
    "epoch",
    "loss",
    "learning_rate",
    "tokens_per_sec",
    "step_time",
    "trained_tokens",
    "mem_active_gb",
    "mem_peak_gb",
    "mem_cache_gb",
    "rss_gb",
    "sys_used_gb",
    "sys_available_gb",
    "swap_used_gb",
}


def test_run_trains_evaluates_checkpoints_and_saves_mlx_lm_adapters(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, iters=16))
    info = wait_done(run_dir)
    assert info.status == "finished", (run_dir / "engine.log").read_text()[-2000:]

    steps = events(run_dir, "step")
    assert [e["step"] for e in steps] == list(range(1, 17))
    for e in steps:
        assert STEP_FIELDS <= set(e), STEP_FIELDS - set(e)
        assert e["tokens_per_sec"] > 0 and e["mem_peak_gb"] > 0 and e["rss_gb"] > 0
    first, last = [e["loss"] for e in steps[:4]], [e["loss"] for e in steps[-4:]]
    assert sum(last) < sum(first), (first, last)
    lrs = [e["learning_rate"] for e in steps]
    assert lrs[0] < lrs[1] and lrs[-1] < max(lrs)  # warm-up, then cosine decay

    evals = events(run_dir, "eval")
    assert [e["step"] for e in evals] == [0, 4, 8, 12, 16]
    assert all(e["val_loss"] > 0 for e in evals)
    assert {e["reason"] for e in events(run_dir, "checkpoint")} == {"periodic", "final"}
    assert events(run_dir, "state")[-1]["state"] == "finished"
    assert info.best_val_loss == min(e["val_loss"] for e in evals[1:])

    for name in ("final", "best"):
        model, tok = load(str(tiny_model_dir), adapter_path=str(run_dir / name))
        out = generate(model, tok, "Onde joga o Farense?", max_tokens=5)
        assert isinstance(out, str)
    # the adapter really changes the model: logits differ from the base
    base, tok = load(str(tiny_model_dir))
    tuned, _ = load(str(tiny_model_dir), adapter_path=str(run_dir / "final"))
    x = mx.array([tok.encode("Quem foi Hassan Nader?")])
    assert not mx.allclose(base(x), tuned(x)).item()


def test_runs_listing_describes_the_run(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, iters=4))
    wait_done(run_dir)
    listed = runs.list_runs()
    assert [r.run_id for r in listed] == [run_dir.name]
    r = listed[0]
    assert (r.status, r.step, r.total_steps, r.alive) == ("finished", 4, 4, False)
    assert r.checkpoint_step == 4
