"""fine_tune_type = "full": every weight of the last blocks trained (mlx-lm's way), exact resume,
best/final saved as model folders that mlx_lm.load reads, a quantized base dequantized and said so."""

from __future__ import annotations

import shutil

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten
from mlx_lm import load
from mlx_lm.generate import generate
from mlx_lm.sample_utils import make_sampler

from farense_tui.engine import runs
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.checkpoints import is_model_folder
from tests import tiny_model
from tests.conftest import REPO
from tests.engine_helpers import events, losses, start_run, tiny_config, wait_done, wait_for

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
    return run_dir, data


def test_a_full_run_trains_the_last_block_and_saves_a_model_folder(straight, tiny_model_dir):
    run_dir, _ = straight
    loss = losses(run_dir)
    assert sum(loss[s] for s in (10, 11, 12)) < sum(loss[s] for s in (1, 2, 3)), loss
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "model"]
    assert notes[0].startswith("base float32: no quantized layers; full fine-tuning: every weight of 1 of 2 blocks ("), notes

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
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": tiny_model.FACTS[0][0]}], add_generation_prompt=True)
    answers = [generate(m, tokenizer, prompt, max_tokens=12, sampler=make_sampler(temp=0.0)) for m in (trained, in_training)]
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
    optimizer = [mx.load(str(sorted((r / "checkpoints").glob("step-*"))[-1] / "optimizer.safetensors")) for r in (run_dir, reference)]
    assert optimizer[0].keys() == optimizer[1].keys() and all(mx.array_equal(optimizer[0][k], optimizer[1][k]).item() for k in optimizer[0])


def test_a_quantized_base_is_dequantized_for_full_training_and_the_run_says_so(tmp_path, tiny_data):
    model = tiny_model.build_quantized(tmp_path / "tiny-4bit", bits=4, group_size=32)
    run_dir = start_run(tiny_config(model, tiny_data, base_precision="4bit", iters=4, **FULL))
    assert wait_done(run_dir).status == "finished", (run_dir / "engine.log").read_text()[-2000:]
    notes = [e["message"] for e in events(run_dir, "note") if e["kind"] == "model"]
    assert notes[0].startswith("full fine-tuning trains float weights: the base is loaded as float32, not 4bit")
    assert notes[1].startswith("base float32: no quantized layers; full fine-tuning")
    folder = run_dir / "final"
    assert "quantization" not in (folder / "config.json").read_text()
    trained, _ = load(str(folder))
    assert all(v.dtype == mx.float32 for v in weights(trained).values())
