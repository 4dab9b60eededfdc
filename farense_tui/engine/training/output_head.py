"""The output head of each mlx-lm architecture whose `Model.__call__` we have read and tested:
hidden states from `model.model(inputs)` → logits, as that `__call__` computes them.

mlx-lm has no accessor for "body" and "head" apart, so this table mirrors its code; an
architecture not listed gets None and trains on full logits.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import mlx.core as mx
import mlx.nn as nn


class Head(NamedTuple):
    module: nn.Module  # holds the head's weights (for checkpointing them with the chunk)
    apply: Callable[[mx.array], mx.array]  # normed hidden states → logits
    vocab: int


def _tied_or_lm_head(model, tied: bool) -> Head:
    embed = model.model.embed_tokens
    vocab = embed.weight.shape[0]
    return (
        Head(embed, embed.as_linear, vocab) if tied else Head(model.lm_head, model.lm_head, vocab)
    )


def _softcapped(model) -> Head:
    embed, cap = model.model.embed_tokens, model.final_logit_softcapping
    return Head(embed, lambda h: mx.tanh(embed.as_linear(h) / cap) * cap, embed.weight.shape[0])


HEADS = {
    "llama": lambda m: _tied_or_lm_head(m, m.args.tie_word_embeddings),  # also mistral (remapped)
    "qwen2": lambda m: _tied_or_lm_head(m, m.args.tie_word_embeddings),
    "gemma": lambda m: _tied_or_lm_head(m, True),
    "gemma2": _softcapped,
}


def output_head(model: nn.Module) -> Head | None:
    """The model's head, or None for an architecture this table does not know."""
    build = HEADS.get(architecture(model))
    return build(model) if build else None


def known_head(model_type: str) -> bool:
    """Whether a model whose config.json says `model_type` gets a head from this table (the memory
    estimate asks this before any model is loaded)."""
    if model_type in HEADS:
        return True
    from mlx_lm.utils import MODEL_REMAPPING  # imported here: mlx_lm takes seconds to import

    return MODEL_REMAPPING.get(model_type) in HEADS


def architecture(model: nn.Module) -> str:
    """mlx-lm's module name for the model (mistral's is llama's: mlx-lm maps it there)."""
    return type(model).__module__.rsplit(".", 1)[-1]
