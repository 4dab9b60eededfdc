"""The GGUF export's metadata, read with llama.cpp's own Python reader (`gguf`), held key by key
and type by type to what llama.cpp's converter wrote in the demo's original file
(SmolLM2-135M-Instruct.Q4_1.gguf): llama.cpp rejects a key of another type when it loads."""

from __future__ import annotations

import pytest

from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from tests.export_helpers import run_with_adapter

gguf = pytest.importorskip("gguf")

# The original file's keys and types (its other general.* keys — organization, finetune, license… —
# are
# kept from a GGUF-converted base: tests/test_export_gguf_general.py; the tiny model here has none).
ORIGINAL = {
    "general.architecture": ["STRING"],
    "general.type": ["STRING"],
    "general.name": ["STRING"],
    "general.file_type": ["UINT32"],
    "general.quantization_version": ["UINT32"],
    "llama.block_count": ["UINT32"],
    "llama.context_length": ["UINT32"],
    "llama.embedding_length": ["UINT32"],
    "llama.feed_forward_length": ["UINT32"],
    "llama.attention.head_count": ["UINT32"],
    "llama.attention.head_count_kv": ["UINT32"],
    "llama.rope.freq_base": ["FLOAT32"],
    "llama.attention.layer_norm_rms_epsilon": ["FLOAT32"],
    "llama.vocab_size": ["UINT32"],
    "llama.rope.dimension_count": ["UINT32"],
    "tokenizer.ggml.add_space_prefix": ["BOOL"],
    "tokenizer.ggml.add_bos_token": ["BOOL"],
    "tokenizer.ggml.model": ["STRING"],
    "tokenizer.ggml.pre": ["STRING"],
    "tokenizer.ggml.tokens": ["ARRAY", "STRING"],
    "tokenizer.ggml.token_type": ["ARRAY", "INT32"],
    "tokenizer.ggml.merges": ["ARRAY", "STRING"],
    "tokenizer.ggml.bos_token_id": ["UINT32"],
    "tokenizer.ggml.eos_token_id": ["UINT32"],
    "tokenizer.ggml.unknown_token_id": ["UINT32"],
    "tokenizer.ggml.padding_token_id": ["UINT32"],
    "tokenizer.chat_template": ["STRING"],
}

NO_TOKEN_IN_TINY = (
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.unknown_token_id",
)  # the tiny tokenizer has neither


def test_gguf_keys_and_types_are_llama_cpps(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    reader = gguf.GGUFReader(str(run_export(plan_export(run_dir, "gguf")).path / "model-f16.gguf"))
    types = {
        k: [t.name for t in f.types] for k, f in reader.fields.items() if not k.startswith("GGUF.")
    }
    expected = {k: v for k, v in ORIGINAL.items() if k not in NO_TOKEN_IN_TINY}
    assert {k: types.get(k) for k in expected} == expected
    value = {k: f.contents() for k, f in reader.fields.items()}
    assert value["general.name"] == f"{tiny_model_dir.name} {run_dir.name}-best"
    assert value["general.quantization_version"] == 2 and value["general.file_type"] == 1  # F16
    assert value["llama.vocab_size"] == len(value["tokenizer.ggml.tokens"]) == 512
    assert value["tokenizer.ggml.padding_token_id"] == value["tokenizer.ggml.tokens"].index(
        "<|endoftext|>"
    )
    assert value["tokenizer.ggml.add_space_prefix"] is False
    assert {t.tensor_type.name for t in reader.tensors} == {"F16", "F32"}
