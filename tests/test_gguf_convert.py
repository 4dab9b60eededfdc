"""GGUF → MLX conversion: a tiny llama written as GGUF must come back as the same model."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from farense_tui.engine.errors import UserError
from farense_tui.engine.models.gguf_import import convert_gguf

REPO = Path(__file__).resolve().parents[1]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Low-rank adapters fine-tune a large language model cheaply.",
    "def add(a, b):\n    return a + b  # émigré café 123",
] * 20
TINY = dict(
    hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
    num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=50000.0,
)  # fmt: skip

# The GGUF name of each mlx-lm llama tensor, written out independently of the converter.
GGUF_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}  # fmt: skip


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def tiny_llama(vocab_size: int, tied: bool):
    from mlx_lm.models.llama import Model, ModelArgs

    args = ModelArgs(
        model_type="llama", vocab_size=vocab_size, rope_traditional=True,
        tie_word_embeddings=tied, **TINY,
    )  # fmt: skip
    model = Model(args)
    mx.random.seed(0)
    # Norms start at ones; random ones catch a swapped attn_norm/ffn_norm.
    norms = {
        k: mx.random.uniform(0.5, 1.5, v.shape)
        for k, v in tree_flatten(model.parameters())
        if "norm" in k
    }
    model.load_weights(list(norms.items()), strict=False)
    mx.eval(model.parameters())
    return model


def gguf_name(name: str) -> str:
    stem, _, suffix = name.rpartition(".")
    top = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    if stem in top:
        return f"{top[stem]}.{suffix}"
    _, _, layer, rest = stem.split(".", 3)
    return f"blk.{layer}.{GGUF_NAMES[rest]}.{suffix}"


def write_tiny_gguf(path: Path, tied: bool = False, **meta_overrides):
    """A tiny llama GGUF (F32) with a byte-level BPE vocabulary; returns (model, tokenizer)."""
    tok = tiny_tokenizer()
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    model = tiny_llama(len(tokens), tied)
    u32 = lambda v: mx.array(v, dtype=mx.uint32)  # noqa: E731
    f32 = lambda v: mx.array(v, dtype=mx.float32)  # noqa: E731
    meta = {
        "general.architecture": "llama",
        "llama.embedding_length": u32(TINY["hidden_size"]),
        "llama.block_count": u32(TINY["num_hidden_layers"]),
        "llama.feed_forward_length": u32(TINY["intermediate_size"]),
        "llama.attention.head_count": u32(TINY["num_attention_heads"]),
        "llama.attention.head_count_kv": u32(TINY["num_key_value_heads"]),
        "llama.attention.layer_norm_rms_epsilon": f32(TINY["rms_norm_eps"]),
        "llama.rope.freq_base": f32(TINY["rope_theta"]),
        "llama.context_length": u32(256),
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.token_type": mx.array(
            [3 if t in SPECIALS else 1 for t in tokens], mx.int32
        ),
        "tokenizer.ggml.bos_token_id": u32(1),
        "tokenizer.ggml.eos_token_id": u32(2),
        "tokenizer.chat_template": TEMPLATE,
    }
    meta.update(meta_overrides)
    arrays = {gguf_name(k): v for k, v in tree_flatten(model.parameters())}
    mx.save_gguf(str(path), arrays, meta)
    return model, tok


@pytest.mark.parametrize("tied", [False, True])
def test_converted_tiny_llama_matches_original(tmp_path, tied):
    from mlx_lm import load

    model, tok = write_tiny_gguf(tmp_path / "tiny.gguf", tied=tied)
    out = convert_gguf(tmp_path / "tiny.gguf", tmp_path / "tiny")

    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and config["rope_traditional"] is True
    assert config["tie_word_embeddings"] is tied
    assert config["rope_theta"] == 50000.0 and config["rms_norm_eps"] == 1e-5
    assert config["vocab_size"] == tok.get_vocab_size() and "quantization" not in config

    loaded, tokenizer = load(str(out))
    text = "The capital of France is Paris. café 123"
    ids = tokenizer.encode(text)
    assert ids == tok.encode(text).ids
    assert tokenizer.decode(ids) == text

    tokens = mx.array([ids])
    np.testing.assert_allclose(
        np.array(loaded(tokens)), np.array(model(tokens)), rtol=1e-5, atol=1e-5
    )


def test_tokenizer_specials_and_chat_template(tmp_path):
    from mlx_lm import load

    write_tiny_gguf(tmp_path / "tiny.gguf")
    _, tokenizer = load(str(convert_gguf(tmp_path / "tiny.gguf", tmp_path / "tiny")))
    assert tokenizer.bos_token == "<|im_start|>" and tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.eos_token_id == 2
    # A special token is one id, never split into bytes.
    assert tokenizer.encode("<|im_end|>") == [2]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize(
    "pre, pieces",
    [
        ("default", ["Hello", "Ġ12345"]),
        ("smollm", ["Hello", "Ġ", "1", "2", "3", "4", "5"]),
        ("llama-bpe", ["Hello", "Ġ", "123", "45"]),
    ],
)
def test_pre_tokenizer_follows_gguf_pre(tmp_path, pre, pieces):
    from tokenizers import Tokenizer

    write_tiny_gguf(tmp_path / "m.gguf", **{"tokenizer.ggml.pre": pre})
    tok = Tokenizer.from_file(
        str(convert_gguf(tmp_path / "m.gguf", tmp_path / "m") / "tokenizer.json")
    )
    assert [p for p, _ in tok.pre_tokenizer.pre_tokenize_str("Hello 12345")] == pieces


def test_bos_eot_and_rope_scaling_metadata(tmp_path):
    from mlx_lm import load

    write_tiny_gguf(
        tmp_path / "m.gguf",
        **{
            "tokenizer.ggml.add_bos_token": mx.array(True),
            "tokenizer.ggml.eot_token_id": mx.array(0, dtype=mx.uint32),
            "llama.rope.scaling.type": "linear",
            "llama.rope.scaling.factor": mx.array(2.0, dtype=mx.float32),
        },
    )
    out = convert_gguf(tmp_path / "m.gguf", tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    assert config["eos_token_id"] == [0, 2]
    assert config["rope_scaling"] == {"type": "linear", "factor": 2.0}
    _, tokenizer = load(str(out))
    assert tokenizer.encode("Paris")[0] == 1
    assert set(tokenizer.eos_token_ids) == {0, 2}


@pytest.mark.parametrize(
    "override, message",
    [
        ({"general.architecture": "gpt2"}, "architecture 'gpt2' is not supported"),
        ({"tokenizer.ggml.model": "llama"}, "tokenizer 'llama' is not supported"),
        ({"tokenizer.ggml.pre": "qwen2"}, "pre-tokenizer 'qwen2' is not supported"),
    ],
)
def test_refuses_what_it_cannot_convert(tmp_path, override, message):
    write_tiny_gguf(tmp_path / "m.gguf", **override)
    with pytest.raises(UserError, match=message) as err:
        convert_gguf(tmp_path / "m.gguf", tmp_path / "out")
    assert "m.gguf" in str(err.value)


def test_refuses_unknown_tensor(tmp_path):
    mx.save_gguf(
        str(tmp_path / "m.gguf"),
        {"rope_freqs.weight": mx.ones((4,))},
        {"general.architecture": "llama"},
    )
    with pytest.raises(UserError, match="'rope_freqs.weight' has no llama equivalent"):
        convert_gguf(tmp_path / "m.gguf", tmp_path / "out")


def test_refuses_unreadable_file(tmp_path):
    (tmp_path / "junk.gguf").write_bytes(b"this is not a GGUF file")
    with pytest.raises(UserError, match="MLX cannot read this GGUF file"):
        convert_gguf(tmp_path / "junk.gguf", tmp_path / "out")
    with pytest.raises(UserError, match="no such GGUF file"):
        convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")


DEMO = REPO / "models" / "smollm2-135m-instruct"


@pytest.mark.skipif(not (DEMO / "config.json").is_file(), reason="demo model not fetched")
def test_demo_model_answers():
    from mlx_lm import generate, load

    model, tokenizer = load(str(DEMO))
    config = json.loads((DEMO / "config.json").read_text())
    assert config["quantization"]["bits"] == 4
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
    )
    answer = generate(model, tokenizer, prompt, max_tokens=16)
    assert "Paris" in answer
