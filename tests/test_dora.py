"""fine_tune_type = "dora": mlx-lm's DoRA layers trained by our loop, saved so mlx-lm loads them as
DoRA, exported fused, refused by the PEFT route, and counted by the memory estimate."""

from __future__ import annotations

import mlx.core as mx
import pytest
from mlx_lm import load
from mlx_lm.tuner.dora import DoRALinear

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.models.loading import add_lora, describe_base, load_base
from farense_tui.engine.profiles.memory_estimate import estimate_for
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs.config import RunConfig
from tests.engine_helpers import events, start_run, tiny_config, wait_done


@pytest.fixture
def dora_run(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, iters=12, fine_tune_type="dora"))
    info = wait_done(run_dir)
    assert info.status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    return run_dir


def test_a_dora_run_trains_and_mlx_lm_loads_it_as_dora(dora_run, tiny_model_dir):
    losses = [e["loss"] for e in events(dora_run, "step")]
    assert sum(losses[-3:]) < sum(losses[:3]), losses
    saved = mx.load(str(dora_run / "final" / "adapters.safetensors"))
    assert any(k.endswith(".m") for k in saved), "DoRA's magnitudes are saved with the adapter"

    model, tokenizer = load(str(tiny_model_dir), adapter_path=str(dora_run / "final"))
    layer = model.layers[0].self_attn.q_proj
    assert isinstance(layer, DoRALinear)
    key = "model.layers.0.self_attn.q_proj.m"
    assert mx.array_equal(layer.m, saved[key]).item()
    # the magnitudes trained: the adapter differs from the weight norms DoRA starts from
    assert not mx.allclose(
        layer.m, mx.linalg.norm(layer._dequantized_weight(), axis=1), atol=1e-4
    ).item()


def test_a_dora_adapter_fuses_and_is_refused_by_peft(dora_run):
    result = run_export(plan_export(dora_run, "fused", "final"))
    assert "greedy answers identical" in result.check, result.check
    with pytest.raises(UserError, match="trained dora"):
        plan_export(dora_run, "peft", "final")


def test_the_memory_estimate_counts_doras_dense_weights(tiny_model_dir):
    lora = load_profile("cpu").replace(base_precision="float32")
    plain = estimate_for(str(tiny_model_dir), lora)
    dora = estimate_for(str(tiny_model_dir), lora.replace(fine_tune_type="dora"))
    assert "dora_weights" not in plain.parts and dora.parts["dora_weights"] > 0
    assert dora.total_gb == pytest.approx(plain.total_gb + dora.parts["dora_weights"])


def test_a_lora_runs_training_key_is_unchanged_by_the_new_setting(tiny_model_dir, tiny_data):
    # runs saved before fine_tune_type existed must still resume exactly: their key has no such
    # entry
    cfg = RunConfig(profile=load_profile("cpu"), model=str(tiny_model_dir), data=str(tiny_data))
    assert "fine_tune_type" not in cfg.training_key()
    cfg.profile = cfg.profile.replace(fine_tune_type="dora")
    assert cfg.training_key()["fine_tune_type"] == "dora"


def test_the_model_note_counts_dora_layers_on_a_quantized_base(tiny_model_dir):
    model, _ = load_base(str(tiny_model_dir), "4bit")
    add_lora(model, load_profile("cpu").replace(fine_tune_type="dora", lora_layers=-1))
    assert (
        describe_base(model)
        == "base 4-bit group 64: 14 QuantizedLinear layers, 14 of them under LoRA"
    )
