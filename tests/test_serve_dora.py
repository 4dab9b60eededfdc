"""`adapter_off` (serve's adapter check, chat's and eval's base side) gives the base model itself
for LoRA and DoRA: a zero LoRA scale leaves DoRA's learned magnitudes rescaling every adapted layer.
`serve` starts on a DoRA run and its check compares logits with and without the adapter."""

from __future__ import annotations

from types import SimpleNamespace

import mlx.core as mx
import pytest
from mlx_lm.utils import load

from farense_tui.engine.chat.openai_server import adapter_check
from farense_tui.engine.chat.server import server_for_run
from farense_tui.engine.chat.service import adapter_off
from farense_tui.engine.export.compare import last_logits, prompt_tokens
from tests.export_helpers import run_with_adapter

QUESTION = [{"role": "user", "content": "Quem foi Hassan Nader?"}]


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_adapter_off_is_the_base_model(tiny_model_dir, tiny_data, kind):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data, fine_tune_type=kind)
    plain, tokenizer = load(str(tiny_model_dir))
    tokens = prompt_tokens(tokenizer, QUESTION)
    base = last_logits(plain, tokens)
    model, tokenizer = load(str(tiny_model_dir), adapter_path=str(run_dir / "best"))
    adapted = last_logits(model, tokens)
    with adapter_off(model):
        off = last_logits(model, tokens)
    assert mx.allclose(off, base, atol=1e-5).item(), f"{kind}: adapter off is not the base model"
    assert not mx.allclose(adapted, base, atol=1e-2).item()
    assert mx.array_equal(last_logits(model, tokens), adapted).item(), (
        "the adapter is back afterwards"
    )
    provider = SimpleNamespace(load_default=lambda: None, model=model, tokenizer=tokenizer)
    assert adapter_check(provider, QUESTION) == pytest.approx(
        mx.abs(adapted - base).max().item(), rel=1e-5
    )


def test_serve_checks_and_serves_a_dora_adapter(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data, fine_tune_type="dora")
    server = server_for_run(run_dir).start(timeout=90)
    try:
        assert server.adapter_check().startswith("adapter check: the adapter changes the logits")
        assert server.answers()
    finally:
        server.stop()
