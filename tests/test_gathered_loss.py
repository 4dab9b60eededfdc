"""The gathered, chunked loss equals the full-logits loss (values and LoRA gradients) on llama,
qwen2, gemma and gemma2 (soft-capped) models, tied and untied heads, with prompt masks and padding;
an unknown architecture falls back to full logits and says so in the run's events."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_map
from mlx_lm.models import gemma, gemma2, llama, qwen2
from mlx_lm.tuner.utils import linear_to_lora_layers

from farense_tui.engine.training.objective import SupervisedObjective
from farense_tui.engine.training.ranks import Ranks
from farense_tui.engine.training.sequence_logprobs import gathered_sequence_logprobs
from farense_tui.engine.training.steps import CompiledSteps
from farense_tui.engine.training.token_loss import summed_token_loss

SMALL = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "vocab_size": 512,
    "rope_theta": 10000.0,
}
GEMMA = {**SMALL, "head_dim": 16}
ARCHITECTURES = {
    "llama-tied": (llama, {**SMALL, "model_type": "llama", "tie_word_embeddings": True}),
    "llama-untied": (llama, {**SMALL, "model_type": "llama", "tie_word_embeddings": False}),
    "qwen2-tied": (qwen2, {**SMALL, "model_type": "qwen2", "tie_word_embeddings": True}),
    "qwen2-untied": (qwen2, {**SMALL, "model_type": "qwen2", "tie_word_embeddings": False}),
    "gemma": (gemma, {**GEMMA, "model_type": "gemma"}),
    "gemma2-softcap": (
        gemma2,
        {
            **GEMMA,
            "model_type": "gemma2",
            "final_logit_softcapping": 3.0,
            "query_pre_attn_scalar": 16,
        },
    ),
}


def lora_model(module, config, seed=0):
    mx.random.seed(seed)
    model = module.Model(module.ModelArgs.from_dict(config))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    # lora_b starts at zero (no gradient reaches lora_a): random, so every LoRA gradient is checked
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.05, model.trainable_parameters()))
    mx.eval(model.parameters())
    return model


def masked_batch(seed=1, width=65):
    """Four rows: prompt offsets, one row shorter than the width (padding), one with no targets."""
    rng = np.random.default_rng(seed)
    tokens = mx.array(rng.integers(0, 512, (4, width)).astype(np.int32))
    lengths = np.array([[10, width], [1, 40], [30, 31], [26, 25]])
    return tokens, lengths


def loss_and_grads(model, loss, *micro):
    (total, count), grads = nn.value_and_grad(model, loss)(model, *micro)
    mx.eval(total, count, grads)
    n = count.item()
    return total.item() / n, n, {k: np.array(g) / n for k, g in tree_flatten(grads)}


@pytest.mark.parametrize(
    "name,backward",
    [(name, "fused") for name in ARCHITECTURES]
    + [("llama-untied", "recompute"), ("gemma2-softcap", "recompute")],
)
def test_gathered_loss_and_lora_gradients_equal_full_logits(name, backward):
    model = lora_model(*ARCHITECTURES[name])
    objective = SupervisedObjective(model, chunk=8)  # several chunks, a partly padded last one
    objective.backward = backward
    assert objective.head is not None and objective.warning is None
    tokens, lengths = masked_batch()
    full = loss_and_grads(model, summed_token_loss, tokens, mx.array(lengths))
    micro = objective.micro_batch(tokens, mx.array(lengths))
    assert (
        micro[2].shape[0] > full[1] and micro[2].shape[0] % 8 == 0
    )  # padded positions are masked out
    gathered = loss_and_grads(model, objective.loss, *micro)
    assert gathered[1] == full[1]
    assert abs(gathered[0] - full[0]) < 1e-5
    assert full[2].keys() == gathered[2].keys() and any("lora_a" in k for k in full[2])
    for key, grad in full[2].items():
        assert np.abs(grad).max() > 0, key
        np.testing.assert_allclose(gathered[2][key], grad, atol=1e-5, rtol=0, err_msg=key)


@pytest.mark.parametrize("name", ["llama-untied", "llama-tied"])
def test_a_trainable_head_gets_its_gradient(name):
    """The fused backward gives the hidden states their gradient only: a head that trains (here
    unfrozen by hand) is recomputed instead, and its weight's gradient equals full logits'."""
    model = lora_model(*ARCHITECTURES[name])
    head = model.model.embed_tokens if name == "llama-tied" else model.lm_head
    head.unfreeze()
    objective = SupervisedObjective(model, chunk=8)
    tokens, lengths = masked_batch()
    full = loss_and_grads(model, summed_token_loss, tokens, mx.array(lengths))
    gathered = loss_and_grads(
        model, objective.loss, *objective.micro_batch(tokens, mx.array(lengths))
    )
    weight = next(k for k in full[2] if k.endswith(("embed_tokens.weight", "lm_head.weight")))
    assert np.abs(full[2][weight]).max() > 0
    for key, grad in full[2].items():
        np.testing.assert_allclose(gathered[2][key], grad, atol=1e-5, rtol=0, err_msg=key)


def test_validation_takes_no_gradient_and_scores_the_same():
    """grad=False (validation, DPO's reference) runs the forward pass alone: the same loss."""
    model = lora_model(*ARCHITECTURES["gemma2-softcap"])
    objective = SupervisedObjective(model, chunk=8)
    tokens, lengths = masked_batch()
    micro = objective.micro_batch(tokens, mx.array(lengths))
    trained = objective.loss(model, *micro)
    scored = objective.loss(model, *micro, grad=False)
    assert (
        abs(trained[0].item() - scored[0].item()) < 1e-5 and trained[1].item() == scored[1].item()
    )


def test_quantized_tied_head_equals_full_logits(tmp_path):
    """The demo's case on Metal: a 4-bit QuantizedEmbedding as the tied head."""
    from mlx_lm import load

    from tests.tiny_model import build_quantized

    model, _ = load(str(build_quantized(tmp_path / "tiny-4bit", bits=4, group_size=32)))
    assert type(model.model.embed_tokens).__name__ == "QuantizedEmbedding"
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.05, model.trainable_parameters()))
    objective = SupervisedObjective(model, chunk=8)
    tokens, lengths = masked_batch()
    full = loss_and_grads(model, summed_token_loss, tokens, mx.array(lengths))
    gathered = loss_and_grads(
        model, objective.loss, *objective.micro_batch(tokens, mx.array(lengths))
    )
    assert abs(gathered[0] - full[0]) < 1e-5
    for key, grad in full[2].items():
        np.testing.assert_allclose(gathered[2][key], grad, atol=1e-5, rtol=0, err_msg=key)


def test_compiled_steps_train_the_same_and_compile_once_per_bucket():
    """Two optimizer steps through CompiledSteps: gathered and full logits end with the same LoRA
    weights; batches whose target counts fall in one bucket reuse the compiled step."""
    weights, traces = [], []
    for fallback in (False, True):
        model = lora_model(*ARCHITECTURES["qwen2-untied"])
        objective = SupervisedObjective(model, chunk=8)
        if fallback:
            objective.head = None
        traced = objective.loss

        def counting(*args):
            traces.append(fallback)  # runs when mx.compile traces the step, not when it replays it
            return traced(*args)

        objective.loss = counting
        steps = CompiledSteps(model, optim.Adam(learning_rate=1e-2), Ranks(), objective)
        for seed, offset in ((1, 7), (2, 4), (3, 1)):
            tokens, lengths = masked_batch(seed)
            lengths[0, 0] = offset  # 100, 103, 106 targets: 13 or 14 chunks of 8, one bucket of 16
            steps.run([objective.micro_batch(tokens, mx.array(lengths))] * 2)
        weights.append(dict(tree_flatten(model.trainable_parameters())))
    for key, value in weights[1].items():
        np.testing.assert_allclose(
            np.array(weights[0][key]), np.array(value), atol=1e-5, rtol=0, err_msg=key
        )
    # as many compilations as the full-logits step (whose shapes do not depend on the target count):
    # no gradient sum yet / one; none again at step 2 (the optimizer's state exists from the start)
    assert traces.count(False) == traces.count(True) == 2


def test_validation_loss_is_the_same_through_the_gathered_path(tiny_model_dir, tiny_data):
    from mlx_lm import load

    from farense_tui.engine.training.evaluation import validation_loss
    from farense_tui.engine.training.splits import load_splits

    model, tokenizer = load(str(tiny_model_dir))
    valid = load_splits(tiny_data, tokenizer, mask_prompt=True).valid
    gathered = SupervisedObjective(model, chunk=16)
    full = SupervisedObjective(model)
    full.head = None
    assert (
        abs(
            validation_loss(model, valid, 4, 256, objective=gathered)
            - validation_loss(model, valid, 4, 256, objective=full)
        )
        < 1e-5
    )


def unknown_architecture(tiny_model_dir, folder):
    """The tiny model's tokenizer with a phi3 body: an mlx-lm architecture the head table lacks."""
    from mlx_lm.models import phi3

    shutil.copytree(tiny_model_dir, folder)
    config = {**SMALL, "model_type": "phi3", "tie_word_embeddings": False}
    model = phi3.Model(phi3.ModelArgs.from_dict(config))
    mx.eval(model.parameters())
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    (folder / "config.json").write_text(json.dumps(config))
    return folder, model


def test_unknown_architecture_falls_back_to_full_logits_and_says_so(
    tiny_model_dir, tiny_data, farense_home
):
    from tests.engine_helpers import events, start_run, tiny_config, wait_done

    folder, model = unknown_architecture(tiny_model_dir, farense_home / "models" / "tiny-phi3")
    objective = SupervisedObjective(model)
    assert objective.head is None and "'phi3'" in objective.warning
    tokens, lengths = masked_batch()
    micro = objective.micro_batch(tokens, mx.array(lengths))
    assert objective.loss(model, *micro)[0].item() == summed_token_loss(model, *micro[:2])[0].item()

    run_dir = start_run(tiny_config(folder, tiny_data, iters=2, eval_every=2, save_every=2))
    assert wait_done(run_dir).status == "finished"
    warnings = [e for e in events(run_dir, "warning") if e["kind"] == "objective"]
    assert len(warnings) == 1 and "phi3" in warnings[0]["message"]
    assert len(events(run_dir, "step")) == 2


def logits_peak(vocab: int, loss: str = "supervised") -> float:
    """MLX peak (bytes) above the weights of one gathered loss + gradient, batch 4 x 512, chunks
    of 128 positions, every position a target: the supervised loss, or the preference objectives'
    per-row log-probs (sequence_logprobs.py), summed."""
    model = lora_model(
        llama, {**SMALL, "model_type": "llama", "tie_word_embeddings": True, "vocab_size": vocab}
    )
    objective = SupervisedObjective(model, chunk=128)
    tokens = mx.array(np.random.default_rng(0).integers(0, vocab, (4, 513)).astype(np.int32))
    micro = objective.micro_batch(tokens, mx.array([[0, 513]] * 4))
    if loss == "sequences":

        def loss_fn(model, tokens, lengths, positions):
            sums, _ = gathered_sequence_logprobs(model, objective.head, 128, tokens, positions)
            return sums.sum()
    else:
        loss_fn = objective.loss
    mx.eval(micro)
    mx.clear_cache()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    mx.eval(nn.value_and_grad(model, loss_fn)(model, *micro))
    return mx.get_peak_memory() - before


@pytest.mark.parametrize("loss", ["supervised", "sequences"])
def test_chunks_are_taken_one_after_another(loss):
    """The logits a big vocabulary adds to the peak are a few chunks' worth, not the whole batch's:
    measured 0.034 GB one chunk after another, 0.135 GB when MLX took the chunks side by side;
    one copy of this batch's full logits is 0.134 GB. The same for DPO/ORPO's log-probs."""
    full_logits = 4 * 512 * 16384 * 4
    assert logits_peak(16384, loss) - logits_peak(512, loss) < 0.5 * full_logits
