"""Batched greedy answers (engine/evaluate/batched.py) equal one-at-a-time stream_generate answers,
token counts included: prompts of different lengths, more prompts than the batch holds (rows
join as others end), answers that end on EOS at different steps, an adapter on and off, and the
model stored 4-bit. Stopping between generation steps."""

from __future__ import annotations

import mlx.core as mx
import pytest

from farense_tui.engine.chat.service import adapter_off
from farense_tui.engine.evaluate.batched import greedy_answers, one_answer, prompt_tokens

QUESTIONS = [
    "Olá",
    "Quem fundou o Farense e em que ano foi fundado o clube?",
    "Cor?",
    "Onde fica o estádio de São Luís, e quantos lugares tem hoje em dia?",
    "Faro",
    "E o Algarve?",
    "Qual é a alcunha do clube e de onde vem?",
]


def conversations() -> list[list[dict]]:
    return [[{"role": "user", "content": q}] for q in QUESTIONS]


def with_early_eos(tokenizer, model, messages):
    """Make a token the first answer generates an EOS, so answers stop at different steps."""
    first = greedy_tokens(model, tokenizer, messages[0], 12)
    tokenizer.eos_token_ids = {*tokenizer.eos_token_ids, first[4]}
    return tokenizer


def greedy_tokens(model, tokenizer, messages, n):
    from mlx_lm import stream_generate

    prompt = prompt_tokens(tokenizer, messages)
    return [r.token for r in stream_generate(model, tokenizer, prompt, max_tokens=n)]


def check_same(model, tokenizer, max_tokens=10, batch_size=3):
    messages = conversations()
    expected = [one_answer(model, tokenizer, m, max_tokens) for m in messages]
    prompts = [prompt_tokens(tokenizer, m) for m in messages]
    got = {
        i: (text, n)
        for i, text, n in greedy_answers(model, tokenizer, prompts, max_tokens, batch_size)
    }
    assert sorted(got) == list(range(len(messages)))
    assert [got[i] for i in range(len(messages))] == expected
    return expected


def with_random_adapter(model):
    """A LoRA adapter of random (non-zero) weights on both layers: the tiny base alone answers every
    question alike ("\\n" × max_tokens)."""
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 20.0, "dropout": 0.0})
    mx.random.seed(1)
    lora_b = [
        (k, mx.random.normal(v.shape) * 0.05)
        for k, v in tree_flatten(model.trainable_parameters())
        if k.endswith("lora_b")
    ]
    model.load_weights(lora_b, strict=False)
    mx.eval(model.parameters())
    model.eval()
    return model


@pytest.fixture(scope="module")
def adapted(tiny_model_dir):
    from mlx_lm import load

    model, tokenizer = load(str(tiny_model_dir))
    return with_random_adapter(model), tokenizer


def test_batched_answers_equal_one_at_a_time_with_the_adapter_on_and_off(adapted):
    model, tokenizer = adapted
    eos = set(tokenizer.eos_token_ids)
    try:
        with_early_eos(tokenizer, model, conversations())
        answers = check_same(model, tokenizer)
        assert len({n for _, n in answers}) > 1, "some answers should end on EOS before max_tokens"
    finally:
        tokenizer.eos_token_ids = eos
    with adapter_off(model):
        assert check_same(model, tokenizer) != answers


def test_batched_answers_equal_one_at_a_time_on_a_4bit_model(tmp_path):
    from mlx_lm import load

    from tests import tiny_model

    model, tokenizer = load(
        str(tiny_model.build_quantized(tmp_path / "tiny-4bit", bits=4, group_size=32))
    )
    with_random_adapter(model)
    with_early_eos(tokenizer, model, conversations())
    answers = check_same(model, tokenizer, batch_size=4)
    assert len({n for _, n in answers}) > 1


def test_stopping_ends_generation_after_the_step_in_progress(adapted):
    model, tokenizer = adapted
    prompts = [prompt_tokens(tokenizer, m) for m in conversations()]
    steps = []
    got = list(
        greedy_answers(
            model, tokenizer, prompts, 50, 2, should_stop=lambda: steps.append(1) or len(steps) >= 3
        )
    )
    assert len(steps) == 3 and len(got) < len(prompts)
