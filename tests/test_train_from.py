"""`train --from RUN[:CHECKPOINT]`: a run that starts where another ended — its LoRA weights as the
parent's adapter, or (`--fuse`) a new adapter on the parent's fused model — and names its parent."""

from __future__ import annotations

import pytest

from farense_tui.cli.main import main
from farense_tui.engine import runs
from farense_tui.engine.runs.config import RunConfig
from tests import tiny_model
from tests.engine_helpers import events


@pytest.fixture
def tiny_profile(farense_home):
    from farense_tui.engine.profiles.profile import load_profile, save_profile

    save_profile(
        load_profile("cpu").replace(
            name="tiny",
            batch_size=2,
            grad_accumulation=2,
            save_every=4,
            eval_every=4,
            warmup_steps=2,
            lora_layers=-1,
            lora_rank=8,
            learning_rate=1e-2,
            log_every=2,
        )
    )
    return "tiny"


def _train(*args: str) -> runs.RunInfo:
    before = {r.path for r in runs.list_runs()}
    assert main(["train", "--profile", "tiny", *args]) == 0
    (new,) = [r for r in runs.list_runs() if r.path not in before]
    return new


def _first_val_loss(run_dir) -> float:
    return next(e["val_loss"] for e in events(run_dir, "eval") if e["step"] == 0)


@pytest.fixture
def stage1(tiny_model_dir, tiny_data, tiny_profile) -> runs.RunInfo:
    first = _train("--model", str(tiny_model_dir), "--data", str(tiny_data), "--iters", "8")
    assert first.status == "finished" and first.best_val_loss is not None
    return first


def test_stage_two_starts_at_stage_ones_validation_loss(
    stage1, tiny_model_dir, farense_home, capsys
):
    # stage 2 trains on other data (the same validation split, so the losses compare)
    data2 = tiny_model.write_data(farense_home / "data" / "stage2", n_train=12)
    fresh = _train("--model", str(tiny_model_dir), "--data", str(data2), "--iters", "4")
    second = _train("--from", stage1.run_id, "--data", str(data2), "--iters", "4")

    assert _first_val_loss(second.path) == pytest.approx(stage1.best_val_loss, abs=1e-5)
    assert (
        abs(_first_val_loss(fresh.path) - stage1.best_val_loss) > 0.1
    )  # a fresh start is elsewhere
    cfg = RunConfig.load(second.path / "config.toml")
    assert cfg.parent == f"{stage1.run_id}:best" and cfg.model == str(tiny_model_dir)
    assert cfg.init_adapter == str(stage1.path / "best")
    capsys.readouterr()
    assert main(["runs"]) == 0
    assert f"from {stage1.run_id}:best" in capsys.readouterr().out


def test_a_named_checkpoint_is_the_start(stage1, tiny_data):
    second = _train("--from", f"{stage1.run_id}:4", "--data", str(tiny_data), "--iters", "4")
    at4 = next(e["val_loss"] for e in events(stage1.path, "eval") if e["step"] == 4)
    assert _first_val_loss(second.path) == pytest.approx(at4, abs=1e-5)


def test_another_shape_or_base_is_refused_with_the_reason(stage1, tiny_data, farense_home, capsys):
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "--profile",
                "tiny",
                "--from",
                stage1.run_id,
                "--set",
                "lora_rank=4",
                "--data",
                str(tiny_data),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "lora_rank 4 (the parent has 8)" in err and "--fuse" in err
    other = tiny_model.build(farense_home / "models" / "other", seed=1)
    assert main(["train", "--profile", "tiny", "--from", stage1.run_id, "--model", str(other)]) == 2
    assert "was trained on" in capsys.readouterr().err
    assert main(["train", "--from", f"{stage1.run_id}:99"]) == 2
    assert "has no adapter '99'" in capsys.readouterr().err


def test_fuse_trains_a_new_adapter_on_the_parents_fused_model(stage1, tiny_data, capsys):
    second = _train("--from", stage1.run_id, "--fuse", "--data", str(tiny_data), "--iters", "4")
    cfg = RunConfig.load(second.path / "config.toml")
    assert cfg.parent == f"{stage1.run_id}:best" and cfg.init_adapter == ""
    assert cfg.model != stage1.model and (cfg.model.endswith(f"{stage1.run_id}-best"))
    # fused float32 weights: the same function up to rounding, with a fresh (zero-B) adapter on top
    assert _first_val_loss(second.path) == pytest.approx(stage1.best_val_loss, abs=1e-3)


def test_an_adapter_that_fits_only_some_layers_is_refused(stage1, tiny_model_dir, tmp_path):
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from farense_tui.engine.errors import UserError
    from farense_tui.engine.models.loading import add_lora, load_base
    from farense_tui.engine.training.setup import start_from_adapter

    cfg = RunConfig.load(stage1.path / "config.toml")
    model, _ = load_base(str(tiny_model_dir), "float32")
    add_lora(model, cfg.profile)
    start_from_adapter(model, stage1.path / "best")  # the whole adapter fits
    weights = dict(tree_flatten(model.trainable_parameters()))
    weights.pop(sorted(weights)[0])  # strict=False would load the rest silently
    mx.save_safetensors(str(tmp_path / "adapters.safetensors"), weights)
    with pytest.raises(UserError, match="does not fit this run's LoRA layers"):
        start_from_adapter(model, tmp_path)
