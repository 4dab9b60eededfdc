"""Turn a llama GGUF file (llama.cpp's format) into an MLX model folder that mlx-lm loads.

MLX reads GGUF itself: Q4_0/Q4_1/Q8_0 tensors come back as MLX affine-quantized triples
(weight, scales, biases; groups of 32), so the weights stay quantized. This module renames the
tensors to mlx-lm's llama names, writes config.json from the metadata and rebuilds a Hugging Face
tokenizer (tokenizer.json + tokenizer_config.json) from the vocabulary embedded in the file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import mlx.core as mx
import numpy as np

from farense_tui.engine.errors import UserError
from farense_tui.engine.models.gguf_general import save_general
from farense_tui.engine.models.source import SOURCE, gguf_source

# Every block format MLX keeps quantized (Q4_0, Q4_1, Q8_0) packs 32 values per scale.
GGUF_GROUP_SIZE = 32

_TOP_LEVEL = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_PER_LAYER = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}

# llama.cpp's token types (llama_token_type).
_CONTROL, _USER_DEFINED = 3, 4

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def convert_gguf(
    gguf_path: Path,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    hub_id: str | None = None,
) -> Path:
    """Write config.json, model*.safetensors, the tokenizer files, gguf_general.json and, when the
    caller knows the Hub id it came from (`hub_id`), source.json of `gguf_path` to `out_dir`;
    `progress` receives a line before each stage."""

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    say = progress or (lambda line: None)
    say(f"reading {gguf_path.name}")
    tensors, meta = _read(gguf_path)
    arch = meta.get("general.architecture", "unknown")
    if arch != "llama":
        raise UserError(
            f"{gguf_path}: architecture {arch!r} is not supported; "
            "only llama-architecture GGUF files can be converted"
        )
    weights = _rename(tensors, gguf_path)
    config = _model_config(meta, weights, gguf_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    say(f"rebuilding the tokenizer ({len(meta.get('tokenizer.ggml.tokens', []))} tokens)")
    _write_tokenizer(meta, out_dir, gguf_path)
    save_general(meta, gguf_path, out_dir)
    say(f"writing {len(weights)} tensors ({config['num_hidden_layers']} layers) as safetensors")
    _save_weights(weights, out_dir)
    if hub_id:
        (out_dir / SOURCE).write_text(
            json.dumps(gguf_source(gguf_path, hub_id), indent=2) + "\n", encoding="utf-8"
        )
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


def _read(path: Path) -> tuple[dict, dict]:
    if not path.is_file():
        raise UserError(f"{path}: no such GGUF file")
    try:
        return mx.load(str(path), return_metadata=True)
    except (RuntimeError, ValueError) as exc:
        raise UserError(
            f"{path}: MLX cannot read this GGUF file ({exc}). MLX reads F32/F16 tensors and "
            "the Q4_0, Q4_1 and Q8_0 quantizations; re-quantize the model to one of those "
            "(llama.cpp's llama-quantize) or convert it from Hugging Face with mlx_lm.convert"
        ) from exc


def _rename(tensors: dict, path: Path) -> dict:
    weights = {}
    for name, value in tensors.items():
        # Quantized tensors arrive as NAME.weight/.scales/.biases; only the stem is renamed.
        stem, _, suffix = name.rpartition(".")
        layer = re.fullmatch(r"blk\.(\d+)\.(\w+)", stem)
        if stem in _TOP_LEVEL:
            weights[f"{_TOP_LEVEL[stem]}.{suffix}"] = value
        elif layer and layer[2] in _PER_LAYER:
            weights[f"model.layers.{layer[1]}.{_PER_LAYER[layer[2]]}.{suffix}"] = value
        else:
            # An unknown tensor (rope_freqs, a vision tower, ...) changes what the model
            # computes; dropping it silently would give a model that answers wrongly.
            raise UserError(f"{path}: tensor {name!r} has no llama equivalent in mlx-lm")
    return weights


def _meta_value(meta: dict, key: str, path: Path, default=None):
    if key not in meta:
        if default is None:
            raise UserError(f"{path}: metadata key {key!r} is missing")
        return default
    value = meta[key]
    return value.item() if isinstance(value, mx.array) else value


def _float32(value: float) -> float:
    """GGUF stores float32; its shortest decimal keeps config.json readable (1e-05, not 9.99e-6)."""
    return float(str(np.float32(value)))


def _model_config(meta: dict, weights: dict, path: Path) -> dict:
    def get(key, default=None):
        return _meta_value(meta, f"llama.{key}", path, default)

    heads = int(get("attention.head_count"))
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": int(get("embedding_length")),
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get("attention.head_count_kv", heads)),
        "rms_norm_eps": _float32(get("attention.layer_norm_rms_epsilon")),
        "rope_theta": _float32(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(get("context_length", 2048)),
        "vocab_size": int(weights["model.embed_tokens.weight"].shape[0]),
        # llama.cpp's converter permutes the q/k rows for its interleaved rope.
        "rope_traditional": True,
        "tie_word_embeddings": "lm_head.weight" not in weights,
        "attention_bias": "model.layers.0.self_attn.q_proj.bias" in weights,
        "mlp_bias": "model.layers.0.mlp.up_proj.bias" in weights,
    }
    if "llama.attention.key_length" in meta:
        config["head_dim"] = int(get("attention.key_length"))
    scaling = meta.get("llama.rope.scaling.type")
    if scaling == "linear":
        config["rope_scaling"] = {"type": "linear", "factor": float(get("rope.scaling.factor"))}
    elif scaling not in (None, "none"):
        raise UserError(f"{path}: rope scaling {scaling!r} is not supported")
    for key in ("bos", "eos"):
        if f"tokenizer.ggml.{key}_token_id" in meta:
            config[f"{key}_token_id"] = int(meta[f"tokenizer.ggml.{key}_token_id"].item())
    if "tokenizer.ggml.eot_token_id" in meta:
        # Chat models end a turn with EOT (Llama 3's <|eot_id|>); mlx-lm stops at any listed id.
        eot = int(meta["tokenizer.ggml.eot_token_id"].item())
        config["eos_token_id"] = sorted({config.get("eos_token_id", eot), eot})
    quantization = _quantization(weights)
    if quantization:
        config["quantization"] = config["quantization_config"] = quantization
    return config


def _quantization(weights: dict) -> dict | None:
    """mlx-lm's quantization block: the most common bit width, plus per-layer exceptions."""
    bits = {}
    for name, scales in weights.items():
        if name.endswith(".scales"):
            layer = name.removesuffix(".scales")
            in_dims = scales.shape[-1] * GGUF_GROUP_SIZE
            bits[layer] = weights[f"{layer}.weight"].shape[-1] * 32 // in_dims
    if not bits:
        return None
    common = Counter(bits.values()).most_common(1)[0][0]
    quantization = {"group_size": GGUF_GROUP_SIZE, "bits": common}
    for layer, b in sorted(bits.items()):
        if b != common:
            quantization[layer] = {"group_size": GGUF_GROUP_SIZE, "bits": b}
    return quantization


def _save_weights(weights: dict, out_dir: Path) -> None:
    from mlx_lm.utils import make_shards

    shards = make_shards(weights)
    for i, shard in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}" if len(shards) > 1 else "model"
        mx.save_safetensors(str(out_dir / f"{name}.safetensors"), shard, metadata={"format": "mlx"})


def _pre_tokenizer(name: str, path: Path):
    """The Hugging Face pre-tokenizer matching llama.cpp's `tokenizer.ggml.pre` regexes."""
    from tokenizers import Regex, pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if name in ("default", "gpt-2"):
        return byte_level
    if name == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if name in ("llama-bpe", "llama3", "smaug-bpe"):
        split = pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated", invert=False)
        return pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    raise UserError(
        f"{path}: pre-tokenizer {name!r} is not supported "
        "(supported: default, gpt-2, smollm, llama-bpe)"
    )


def _write_tokenizer(meta: dict, out_dir: Path, path: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    kind = meta.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise UserError(
            f"{path}: tokenizer {kind!r} is not supported; only byte-level BPE ('gpt2') is"
        )
    tokens = meta["tokenizer.ggml.tokens"]
    types = (
        meta["tokenizer.ggml.token_type"].tolist() if "tokenizer.ggml.token_type" in meta else []
    )
    specials = [tokens[i] for i, t in enumerate(types) if t == _CONTROL]
    user_defined = [tokens[i] for i, t in enumerate(types) if t == _USER_DEFINED]
    merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges", [])]

    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tok.pre_tokenizer = _pre_tokenizer(meta.get("tokenizer.ggml.pre", "default"), path)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tok.add_tokens([AddedToken(t, normalized=False) for t in user_defined])

    def token(key: str) -> str | None:
        ident = meta.get(f"tokenizer.ggml.{key}_token_id")
        return None if ident is None else tokens[int(ident.item())]

    post = processors.ByteLevel(trim_offsets=False)
    bos = token("bos")
    if bos is not None and _meta_value(meta, "tokenizer.ggml.add_bos_token", path, False):
        bos_id = int(meta["tokenizer.ggml.bos_token_id"].item())
        template = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
        post = processors.Sequence([post, template])
    tok.post_processor = post
    tok.save(str(out_dir / "tokenizer.json"))

    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(_meta_value(meta, "llama.context_length", path, 2048)),
    }
    for key, gguf_key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        if token(gguf_key) is not None:
            config[f"{key}_token"] = token(gguf_key)
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"]
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
