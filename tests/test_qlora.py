"""QLoRA: LoRA on a base stored quantized (the tiny llama stored 4-bit group 32 / 64 and 8-bit by
mlx-lm), through the real supervisor and engine processes, base_precision at the stored bits.

load_base keeps a quantized model as stored (no dequantize, no re-quantize), so the run trains LoRA
on QuantizedLinear layers; the run's "model" note says so, and the tests check it."""

from __future__ import annotations

import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx_lm import load, stream_generate
from mlx_lm.tuner.lora import LoRALinear

from farense_tui.engine import runs
from farense_tui.engine.chat.service import load_target, stream_reply, target_for_run
from farense_tui.engine.runs import commands
from farense_tui.engine.training.faults import FAULTS_ENV
from tests import tiny_model
from tests.engine_helpers import (
    events,
    inject_faults,
    kill,
    losses,
    start_run,
    tiny_config,
    wait_done,
    wait_for,
)

QUESTION = "Quem foi Hassan Nader?"
_built: dict[tuple[int, int], object] = {}


@pytest.fixture(scope="session")
def quantized(tmp_path_factory):
    def get(bits: int, group_size: int):
        if (bits, group_size) not in _built:
            folder = tmp_path_factory.mktemp("q") / f"tiny-{bits}bit-g{group_size}"
            _built[bits, group_size] = tiny_model.build_quantized(folder, bits, group_size)
        return _built[bits, group_size]

    return get


def qconfig(model, data, bits: int, **changes):
    return tiny_config(model, data, base_precision=f"{bits}bit", **changes)


def final_adapter(run_dir) -> dict:
    return mx.load(str(run_dir / "final" / "adapters.safetensors"))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(mx.array_equal(a[k], b[k]).item() for k in a)


@pytest.mark.parametrize("bits, group_size", [(4, 32), (4, 64), (8, 64)])
def test_loss_falls_training_lora_on_the_stored_quantized_layers(
    quantized, tiny_data, bits, group_size
):
    model = quantized(bits, group_size)
    run_dir = start_run(qconfig(model, tiny_data, bits))
    assert wait_done(run_dir).status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "model"]
    assert notes == [
        f"base {bits}-bit group {group_size}: 14 QuantizedLinear layers, 14 of them under LoRA"
    ]
    val = {e["step"]: e["val_loss"] for e in events(run_dir, "eval")}  # the same examples each time
    later = [val[s] for s in (4, 8, 12)]
    assert sorted(val) == [0, 4, 8, 12] and max(later) < val[0] and min(later) < 0.9 * val[0], val

    # Loaded back as mlx-lm loads it, the adapted layers wrap the stored quantized ones.
    loaded, _ = load(str(model), adapter_path=str(run_dir / "final"))
    adapted = [m for _, m in loaded.named_modules() if isinstance(m, LoRALinear)]
    assert len(adapted) == 14 and all(
        isinstance(m.linear, nn.QuantizedLinear)
        and (m.linear.bits, m.linear.group_size) == (bits, group_size)
        for m in adapted
    )


def test_stop_then_resume_on_a_4bit_base_is_exact(quantized, tiny_data):
    model = quantized(4, 32)
    straight = start_run(qconfig(model, tiny_data, 4))
    assert wait_done(straight).status == "finished"
    run_dir = start_run(qconfig(model, tiny_data, 4))
    wait_for(lambda: any(e["step"] >= 3 for e in events(run_dir, "step")), what="step 3")
    commands.send(run_dir, "stop")
    info = wait_done(run_dir)
    assert info.status == "stopped" and 3 <= info.checkpoint_step < 12
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished"
    assert losses(run_dir) == losses(straight)
    assert same_weights(final_adapter(run_dir), final_adapter(straight))


def test_kill_9_of_the_engine_mid_run_resumes_to_the_same_adapter(
    quantized, tiny_data, monkeypatch
):
    model = quantized(4, 64)
    straight = start_run(qconfig(model, tiny_data, 4))
    assert wait_done(straight).status == "finished"
    inject_faults(
        monkeypatch, hang_in_checkpoint_at_step=8
    )  # holds the engine mid-run for the kill to land
    cfg = qconfig(model, tiny_data, 4)
    cfg.auto_recover = False
    run_dir = start_run(cfg)
    wait_for(
        lambda: (run_dir / "checkpoints" / ".tmp-step-0000008").exists(),
        what="step 8's checkpoint write",
    )
    kill(run_dir / "engine.pid")
    info = wait_done(run_dir)
    assert info.status == "failed" and info.recoverable and info.checkpoint_step == 4
    monkeypatch.delenv(FAULTS_ENV)
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    assert [e["step"] for e in events(run_dir, "step")] == [*range(1, 9), *range(5, 13)]
    assert losses(run_dir) == losses(straight)
    assert same_weights(final_adapter(run_dir), final_adapter(straight))


def test_the_4bit_adapter_answers_in_mlx_lm_as_in_our_chat(quantized, tiny_data):
    model = quantized(4, 32)
    run_dir = start_run(qconfig(model, tiny_data, 4))
    assert wait_done(run_dir).status == "finished"
    ours_model, ours_tok = load_target(target_for_run(run_dir, "final"))
    ours = [
        r
        for r in stream_reply(
            ours_model, ours_tok, [{"role": "user", "content": QUESTION}], max_tokens=8
        )
    ]

    theirs_model, theirs_tok = load(str(model), adapter_path=str(run_dir / "final"))
    prompt = theirs_tok.apply_chat_template(
        [{"role": "user", "content": QUESTION}], add_generation_prompt=True
    )
    theirs = list(stream_generate(theirs_model, theirs_tok, prompt, max_tokens=8))
    assert [r.token for r in ours] == [r.token for r in theirs]

    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlx_lm",
            "generate",
            "--model",
            str(model),
            "--adapter-path",
            str(run_dir / "final"),
            "--prompt",
            QUESTION,
            "--max-tokens",
            "8",
            "--temp",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    printed = cli.stdout.split("==========\n")[1].rstrip("\n")
    assert printed == "".join(r.text for r in ours)
