"""Early stopping: the run ends after `early_stop_patience` evaluations without a better val loss.

The Trainer runs in-process on the tiny model with validation losses scripted, so which
evaluation is best is decided by the test, not by how training happens to go.
"""

from __future__ import annotations

from farense_tui.engine import runs
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import EventWriter, read_all
from farense_tui.engine.training import trainer
from tests.engine_helpers import tiny_config


def test_stops_after_patience_evaluations_without_improvement(
    tiny_model_dir, tiny_data, monkeypatch
):
    scripted = iter([5.0, 4.0, 4.5, 4.6, 3.0])  # steps 0, 2, 4, 6, (8: never reached)
    monkeypatch.setattr(trainer, "validation_loss", lambda *args, **kwargs: next(scripted))
    run_dir = runs.create_run(
        tiny_config(
            tiny_model_dir, tiny_data, iters=20, eval_every=2, save_every=100, early_stop_patience=2
        )
    )
    events = EventWriter(run_dir / "events.jsonl")
    try:
        code = trainer.Trainer(run_dir, RunConfig.load(run_dir / "config.toml"), events).run()
    finally:
        events.close()
    assert code == trainer.EXIT_DONE
    seen = read_all(run_dir / "events.jsonl")
    evals = [(e["step"], e["val_loss"], e["is_best"]) for e in seen if e["type"] == "eval"]
    assert evals == [(0, 5.0, False), (2, 4.0, True), (4, 4.5, False), (6, 4.6, False)]
    assert any(e["type"] == "warning" and e["kind"] == "early-stop" for e in seen)
    finished = [e for e in seen if e["type"] == "finished"]
    assert finished[0]["step"] == 6 and finished[0]["best_val_loss"] == 4.0
    assert (run_dir / "best" / "adapters.safetensors").exists()
