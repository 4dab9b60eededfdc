"""Route `gguf`: the fused model as one float16 GGUF file, checked by reading it back.

mlx-lm's writer (`mlx_lm.gguf`) gives the tensor names, the q/k permutation and the llama
metadata; it lacks two things written here: models already in llama.cpp's q/k order (imported
from GGUF, `rope_traditional`) must not be permuted again, and byte-level BPE tokenizers
(SmolLM, Llama 3, Qwen…) need llama.cpp's "gpt2" vocabulary with merges, not its "llama" one.
The file is read back through the project's own GGUF importer and answers like the fused model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.gguf import (
    HfVocab,
    TokenType,
    permute_weights,
    prepare_metadata,
    translate_weight_names,
)
from mlx_lm.utils import load

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.compare import probe, prompt_tokens
from farense_tui.engine.export.fused import fuse_model
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.export.samples import check_messages
from farense_tui.engine.models.gguf_general import load_general
from farense_tui.engine.models.gguf_import import _LLAMA3_SPLIT, convert_gguf
from farense_tui.engine.models.local import resolve_model

GGUF_ARCHITECTURES = (
    "llama",
    "mistral",
)  # what mlx-lm's writer maps (its mixtral names are HF's, not mlx-lm's)
GGUF_NAME = "model-f16.gguf"
GGML_QNT_VERSION = 2
OWN_PREFIX = (
    "farense.export."  # keys this project adds; llama.cpp ignores a namespace it does not know
)
LAYOUT_TOLERANCE = 1e-2  # relative logit difference; float16 rounding gives ~1e-3


def check_architecture(config: dict) -> None:
    arch = config.get("model_type", "unknown")
    if arch not in GGUF_ARCHITECTURES:
        raise UserError(
            f"GGUF export does not support the {arch!r} architecture (mlx-lm writes GGUF for "
            f"{', '.join(GGUF_ARCHITECTURES)} only); export --to fused or --to peft instead"
        )


def gguf_weights(model, config: dict) -> dict:
    """Tensors under llama.cpp's names: float16, norms float32 (as mlx-lm's writer does)."""
    weights = dict(tree_flatten(model.parameters()))
    if not config.get("rope_traditional", False):
        # Hugging Face order → llama.cpp's interleaved rope order; a rope_traditional model has it
        # already.
        heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads")
        for name in weights:
            if name.endswith("self_attn.q_proj.weight"):
                weights[name] = permute_weights(weights[name], heads, heads)
            elif name.endswith("self_attn.k_proj.weight"):
                weights[name] = permute_weights(weights[name], heads, kv_heads)
    return {
        translate_weight_names(k): v.astype(mx.float32 if "norm" in k else mx.float16)
        for k, v in weights.items()
    }


def _pre_tokenizer_name(pre: dict | None) -> str | None:
    """llama.cpp's `tokenizer.ggml.pre` for a Hugging Face pre-tokenizer; the importer's inverse."""
    parts = (pre or {}).get("pretokenizers", [pre] if pre else [])
    kinds = [p.get("type") for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and parts[0].get("individual_digits"):
        return "smollm"
    if (
        kinds == ["Split", "ByteLevel"]
        and parts[0].get("pattern", {}).get("Regex") == _LLAMA3_SPLIT
    ):
        return "llama-bpe"
    return None


def bpe_vocabulary(tokenizer_dir: Path, n_vocab: int) -> dict | None:
    """llama.cpp's byte-level BPE vocabulary keys, or None for a tokenizer that is not one."""
    path = tokenizer_dir / "tokenizer.json"
    if not path.is_file():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec.get("model", {})
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        return None
    pre = _pre_tokenizer_name(spec.get("pre_tokenizer"))
    if pre is None:
        raise UserError(
            f"{path}: its pre-tokenizer is not one llama.cpp names here (gpt-2, smollm, "
            f"llama-bpe); "
            "export --to fused or --to peft instead"
        )
    # Rows of the embedding past the tokenizer's ids become unused [PAD] tokens, as llama.cpp's
    # converter does.
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [TokenType.UNUSED.value] * n_vocab
    added = {t["content"]: t for t in spec.get("added_tokens", [])}
    for text, ident in {**model["vocab"], **{t: a["id"] for t, a in added.items()}}.items():
        if ident >= n_vocab:
            raise UserError(
                f"{path}: token {text!r} has id {ident}, past the model's {n_vocab} embedding rows"
            )
        tokens[ident] = text
        kind = added.get(text)
        types[ident] = (
            TokenType.NORMAL
            if kind is None
            else TokenType.CONTROL
            if kind.get("special")
            else TokenType.USER_DEFINED
        ).value
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    post = json.dumps(spec.get("post_processor"))
    return {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": mx.array(types, dtype=mx.int32),
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.add_bos_token": mx.array("TemplateProcessing" in post),
        "tokenizer.ggml.add_space_prefix": mx.array(
            False
        ),  # byte-level BPE marks spaces itself (Ġ)
    }


def gguf_metadata(
    tokenizer,
    tokenizer_dir: Path,
    config: dict,
    n_vocab: int,
    name: str,
    source: dict | None = None,
) -> dict:
    """mlx-lm's metadata with the keys and types llama.cpp's own converter writes where mlx-lm's
    differ; `source`: the general.* keys of the GGUF the base came from, kept as they were (name,
    licence…)."""
    metadata = prepare_metadata(config, HfVocab.load(tokenizer_dir))
    bpe = bpe_vocabulary(tokenizer_dir, n_vocab)
    if bpe is not None:
        metadata.pop("tokenizer.ggml.scores", None)
        metadata.update(bpe)
    # llama.cpp refuses a UINT32 token_type ("invalid gguf type"); mlx-lm writes UINT32.
    metadata["tokenizer.ggml.token_type"] = metadata["tokenizer.ggml.token_type"].astype(mx.int32)
    # mlx-lm writes the F16 file type's value (1) here; llama.cpp's converter writes
    # GGML_QNT_VERSION.
    metadata["general.quantization_version"] = mx.array(GGML_QNT_VERSION, dtype=mx.uint32)
    metadata["general.name"] = name
    metadata["general.type"] = "model"
    metadata["llama.vocab_size"] = mx.array(n_vocab, dtype=mx.uint32)
    if getattr(tokenizer, "pad_token_id", None) is not None:
        metadata["tokenizer.ggml.padding_token_id"] = mx.array(
            tokenizer.pad_token_id, dtype=mx.uint32
        )
    if isinstance(getattr(tokenizer, "chat_template", None), str):
        metadata["tokenizer.chat_template"] = tokenizer.chat_template
    metadata.update(source or {})
    return metadata


def write_gguf(plan: ExportPlan, folder: Path, progress) -> tuple[Path, str]:
    """The GGUF in `folder` and its check (read back, against the fused model)."""
    messages = check_messages(Path(plan.config.data))
    progress("loading the base model with the adapter, fusing, dequantizing")
    model, tokenizer, config, _ = fuse_model(plan, dequantize=True)
    check_architecture(config)
    tokens = prompt_tokens(tokenizer, messages)
    fused = probe(model, tokenizer, tokens)
    scratch = folder / ".scratch"
    tokenizer.save_pretrained(scratch)  # HfVocab reads the tokenizer from a folder
    weights = gguf_weights(model, config)
    progress(f"writing {GGUF_NAME} (float16)")
    out = folder / GGUF_NAME
    name = f"{Path(plan.base_model).name} {plan.run_dir.name}-{plan.checkpoint}"
    source = load_general(resolve_model(plan.base_model))
    metadata = gguf_metadata(
        tokenizer, scratch, config, weights["token_embd.weight"].shape[0], name, source
    )
    # Our own keys, apart from the source's general.*: which fine-tune this file is.
    metadata.update(
        {
            f"{OWN_PREFIX}run": plan.run_dir.name,
            f"{OWN_PREFIX}checkpoint": str(plan.checkpoint),
            f"{OWN_PREFIX}base_model": str(plan.base_model),
        }
    )
    mx.save_gguf(str(out), weights, metadata)
    del model, weights
    progress("checking: reading the GGUF back through the importer, against the fused model")
    convert_gguf(out, scratch / "read-back")
    again, again_tokenizer = load(str(scratch / "read-back"))
    read_back = probe(again, again_tokenizer, tokens)
    if prompt_tokens(again_tokenizer, messages) != tokens:
        raise UserError(
            f"the GGUF's vocabulary tokenizes the check question differently from {plan.base_model}"
        )
    if read_back.relative_delta(fused) > LAYOUT_TOLERANCE:
        raise UserError(
            f"the GGUF read back does not compute what the fused model does "
            f"({read_back.against(fused, 'read back vs fused')}); nothing was written"
        )
    shutil.rmtree(scratch)
    return out, read_back.against(fused, "GGUF read back vs fused")
