"""The GGUF export run by llama.cpp itself (llama-cpp-python): it tokenizes the chat prompt as the
run's tokenizer does, its next-token logits match base + adapter in MLX, and its greedy tokens are
ours. Skipped where `llama_cpp` is not installed (it builds llama.cpp from source for minutes, so it
is no dev dependency: `pip install llama-cpp-python` to run it)."""

from __future__ import annotations

import numpy as np
import pytest
from mlx_lm.utils import load

from farense_tui.engine.export.compare import last_logits, probe
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from tests.export_helpers import run_with_adapter

llama_cpp = pytest.importorskip("llama_cpp")

QUESTION = [{"role": "user", "content": "Quem foi Hassan Nader?"}]
GREEDY_TOKENS = 8
LOGIT_TOLERANCE = 1e-2  # relative; float16 weights give ~1e-3, a wrong layout or vocabulary ~1


def test_llama_cpp_answers_the_gguf_export_as_mlx_does(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    path = run_export(plan_export(run_dir, "gguf")).path / "model-f16.gguf"
    model, tokenizer = load(str(tiny_model_dir), adapter_path=str(run_dir / "best"))
    text = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    tokens = list(tokenizer.encode(text, add_special_tokens=False))
    ours = probe(model, tokenizer, tokens, max_tokens=GREEDY_TOKENS)
    expected_logits = np.array(last_logits(model, tokens))

    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=256, n_threads=1, logits_all=True, verbose=False
    )
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == tokens
    llm.eval(tokens)
    logits = np.array(llm.scores[len(tokens) - 1])
    assert np.abs(logits - expected_logits).max() / np.abs(expected_logits).max() < LOGIT_TOLERANCE
    llm.reset()
    theirs = []
    for token in llm.generate(tokens, temp=0.0, top_k=1, reset=True):
        if token == llm.token_eos() or len(theirs) == GREEDY_TOKENS:
            break
        theirs.append(token)
    assert theirs == [t for t in ours.tokens if t != llm.token_eos()][:GREEDY_TOKENS]
