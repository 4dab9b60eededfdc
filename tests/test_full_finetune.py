"""fine_tune_type = "full": every weight of the last blocks trained (mlx-lm's way), exact resume,
best/final saved as model folders that mlx_lm.load reads, a quantized base dequantized and said
so."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import openai
import pytest
from mlx.utils import tree_flatten
from mlx_lm import load
from mlx_lm.generate import generate
from mlx_lm.sample_utils import make_sampler

from farense_tui.cli.main import main
from farense_tui.engine import runs
from farense_tui.engine.chat.server import server_for_run
from farense_tui.engine.chat.service import adapter_off, load_target, target_for_run
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.profiles.memory_estimate import GB, estimate_for
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.lineage import find_parent
from farense_tui.engine.runs.plan import plan_run
from farense_tui.engine.runs.run_folder import is_model_folder
from tests import tiny_model
from tests.conftest import REPO
from tests.engine_helpers import events, losses, start_run, tiny_config, wait_done, wait_for
from tests.test_memory_estimate import long_text_data

FULL = dict(fine_tune_type="full", lora_layers=1, learning_rate=1e-3)


def weights(model) -> dict:
    return dict(tree_flatten(model.parameters()))


@pytest.fixture(scope="module")
def straight(tiny_model_dir, tmp_path_factory):
    """One uninterrupted full run (12 steps), shared by the tests that compare with it."""
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(REPO / "profiles", home / "profiles")
    (home / "runs").mkdir()
    data = tiny_model.write_data(home / "data" / "tiny")
    with pytest.MonkeyPatch.context() as mp:  # the autouse home is per test; this run outlives one
        mp.setenv("FARENSE_HOME", str(home))
        run_dir = start_run(tiny_config(tiny_model_dir, data, **FULL))
        info = wait_done(run_dir)
    assert info.status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    return run_dir, home


def test_a_full_run_trains_the_last_block_and_saves_a_model_folder(straight, tiny_model_dir):
    run_dir, _ = straight
    loss = losses(run_dir)
    assert sum(loss[s] for s in (10, 11, 12)) < sum(loss[s] for s in (1, 2, 3)), loss
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "model"]
    assert notes[0].startswith(
        "base float32: no quantized layers; full fine-tuning: every weight of 1 of 2 blocks ("
    ), notes

    for name in ("best", "final"):
        assert is_model_folder(run_dir / name) and (run_dir / name / "tokenizer.json").is_file()
    trained, tokenizer = load(str(run_dir / "final"))
    base, _ = load(str(tiny_model_dir))
    after, before = weights(trained), weights(base)
    assert after.keys() == before.keys()
    changed = {k for k in after if not mx.array_equal(after[k], before[k]).item()}
    assert changed and all(k.startswith("model.layers.1.") for k in changed), sorted(changed)
    # every weight of the block trained, the norms included (mlx-lm unfreezes the whole block)
    assert changed == {k for k in after if k.startswith("model.layers.1.")}

    # the folder is the model the engine trained: its final checkpoint (mlx-lm's "full" adapter
    # format, the trained weights) on the base gives the same weights and the same greedy answer
    checkpoint = sorted((run_dir / "checkpoints").glob("step-*"))[-1]
    in_training, _ = load(str(tiny_model_dir), adapter_path=str(checkpoint))
    assert all(mx.array_equal(v, after[k]).item() for k, v in weights(in_training).items())
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": tiny_model.FACTS[0][0]}], add_generation_prompt=True
    )
    answers = [
        generate(m, tokenizer, prompt, max_tokens=12, sampler=make_sampler(temp=0.0))
        for m in (trained, in_training)
    ]
    assert answers[0] == answers[1]


def test_a_stopped_full_run_resumes_bit_exactly(straight, tiny_model_dir, tiny_data):
    reference, _ = straight
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, **FULL))
    wait_for(lambda: any(e["step"] >= 3 for e in events(run_dir, "step")), what="step 3")
    commands.send(run_dir, "stop")
    stopped = wait_done(run_dir)
    stopped_at = stopped.checkpoint_step
    assert stopped.status == "stopped" and 3 <= stopped_at < 12
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    assert losses(run_dir) == losses(reference)
    ours, theirs = (weights(load(str(r / "final"))[0]) for r in (run_dir, reference))
    assert all(mx.array_equal(ours[k], theirs[k]).item() for k in theirs)
    ours, theirs = (
        mx.load(str(sorted((r / "checkpoints").glob("step-*"))[-1] / "optimizer.safetensors"))
        for r in (run_dir, reference)
    )
    assert ours.keys() == theirs.keys() and all(
        mx.array_equal(ours[k], theirs[k]).item() for k in ours
    )


def test_a_quantized_base_is_dequantized_for_full_training_and_the_run_says_so(tmp_path, tiny_data):
    model = tiny_model.build_quantized(tmp_path / "tiny-4bit", bits=4, group_size=32)
    run_dir = start_run(tiny_config(model, tiny_data, base_precision="4bit", iters=4, **FULL))
    assert wait_done(run_dir).status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "model"]
    assert notes[0].startswith(
        "full fine-tuning trains float weights: the base is loaded as float32, not 4bit"
    )
    assert notes[1].startswith("base float32: no quantized layers; full fine-tuning")
    folder = run_dir / "final"
    assert "quantization" not in (folder / "config.json").read_text()
    trained, _ = load(str(folder))
    assert all(v.dtype == mx.float32 for v in weights(trained).values())


def test_the_memory_estimate_counts_full_weights_gradients_and_adam(tiny_model_dir):
    profile = load_profile("cpu").replace(fine_tune_type="full", lora_layers=1, grad_accumulation=1)
    est = estimate_for(str(tiny_model_dir), profile)
    block = (
        sum(
            a * b
            for a, b in [(64, 64), (64, 32), (64, 32), (64, 64), (64, 128), (64, 128), (128, 64)]
        )
        + 2 * 64
    )
    assert est.info["trained_params"] == block and est.info["fine_tune_type"] == "full"
    assert "lora_params" not in est.parts
    # float32 grads, m, v and the update's new weights, m, v
    assert est.parts["lora_grads_optimizer"] == pytest.approx(6 * block * 4 / GB)
    # a 4-bit Mac profile trains a bfloat16 copy: the weights are counted at that precision
    mac = estimate_for(str(tiny_model_dir), load_profile("mac-16gb").replace(fine_tune_type="full"))
    assert mac.info["precision"] == "bfloat16"
    assert mac.parts["base_weights"] == pytest.approx(mac.info["params"] * 2 / GB)


def test_the_full_estimate_matches_a_real_engine_run(tiny_model_dir, farense_home):
    """As test_memory_estimate's LoRA check, with its bound (twice the 16% seen for LoRA runs)."""
    data = long_text_data(farense_home / "data" / "long", tiny_model_dir, min_tokens=128)
    cfg = tiny_config(
        tiny_model_dir,
        data,
        batch_size=4,
        grad_accumulation=1,
        max_seq_length=128,
        iters=3,
        eval_every=1000,
        save_every=1000,
        val_batches=1,
        warmup_steps=0,
        **{**FULL, "lora_layers": -1},
    )
    run_dir = start_run(cfg)
    assert wait_done(run_dir).status == "finished"
    measured = max(e["mem_peak_gb"] for e in events(run_dir, "step"))
    predicted = estimate_for(tiny_model_dir, cfg.profile).mlx_peak_gb
    print(f"full estimate {predicted!r} GB, measured {measured!r} GB")
    assert abs(predicted - measured) / measured < 0.32, (predicted, measured)


def test_chat_eval_export_and_serve_use_the_model_folder(straight, monkeypatch, capsys):
    run_dir, home = straight
    monkeypatch.setenv("FARENSE_HOME", str(home))
    target = target_for_run(run_dir, "final")
    assert (target.model, target.adapter) == (str(run_dir / "final"), None)
    model, tokenizer = load_target(target)
    step = target_for_run(
        run_dir, "12"
    )  # a checkpoint: the trained blocks on the base, at its float precision
    assert step.adapter == run_dir / "checkpoints" / "step-0000012" and step.precision == "float32"
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": tiny_model.FACTS[1][0]}], add_generation_prompt=True
    )
    answer = generate(model, tokenizer, prompt, max_tokens=10, sampler=make_sampler(temp=0.0))
    assert (
        generate(
            load_target(step)[0], tokenizer, prompt, max_tokens=10, sampler=make_sampler(temp=0.0)
        )
        == answer
    )
    with pytest.raises(UserError, match="no adapter layers to switch off"):
        with adapter_off(model):
            pass

    assert (
        main(
            [
                "eval",
                run_dir.name,
                "--checkpoint",
                "final",
                "--split",
                "valid",
                "--base",
                "--max-tokens",
                "4",
                "--samples",
                "2",
                "--seeds",
                "1",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert (
        result["loss"]["adapter"]["loss"] < result["loss"]["base"]["loss"]
    )  # the base side is the base model

    fused = run_export(plan_export(run_dir, "fused", "final"))
    assert "greedy answers identical" in fused.check, fused.check
    again, _ = load(str(fused.path))
    assert all(mx.array_equal(v, weights(model)[k]).item() for k, v in weights(again).items())
    assert run_export(plan_export(run_dir, "gguf", "final")).path.exists()
    with pytest.raises(UserError, match="is a full fine-tune"):
        plan_export(run_dir, "peft", "final")
    with pytest.raises(UserError, match="holds the trained blocks only"):
        plan_export(run_dir, "fused", "12")

    server = server_for_run(run_dir, "final")
    assert (server.model, server.adapter) == (str(run_dir / "final"), None)
    server.start(timeout=90)
    try:
        assert server.adapter_check().startswith(
            "adapter check: none, a full fine-tune's model folder"
        )
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model=server.name,
            max_tokens=10,
            temperature=0,
            messages=[{"role": "user", "content": tiny_model.FACTS[1][0]}],
        )
        assert reply.choices[0].message.content == answer.removesuffix("<|im_end|>")
    finally:
        server.stop()


def test_a_run_from_a_full_fine_tune_trains_on_its_model(straight, tiny_data):
    run_dir, _ = straight
    plan = plan_run(None, tiny_data, "cpu", parent=find_parent(f"{run_dir}:final"))
    assert plan.model == str(run_dir / "final") and not plan.init_adapter
    with pytest.raises(UserError, match="leave --model out"):
        plan_run("demo", tiny_data, "cpu", parent=find_parent(f"{run_dir}:final"))
