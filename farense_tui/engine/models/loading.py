"""Load a base model at the profile's precision and put LoRA adapters on it, through mlx-lm."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.tuner.dora import DoRALinear
from mlx_lm.tuner.lora import LoRALinear
from mlx_lm.tuner.utils import linear_to_lora_layers
from mlx_lm.utils import dequantize_model, load

from farense_tui.engine.errors import UserError

# Profile target names → leaf module names across mlx-lm architectures (llama, mistral, qwen, phi…).
TARGET_ALIASES = {
    "q": ("q_proj", "wq"),
    "k": ("k_proj", "wk"),
    "v": ("v_proj", "wv"),
    "o": ("o_proj", "wo", "out_proj", "dense"),
    "gate": ("gate_proj", "w1"),
    "up": ("up_proj", "w3", "fc1"),
    "down": ("down_proj", "w2", "fc2"),
}
_FLOATS = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}


def is_quantized(model: nn.Module) -> bool:
    return any(
        isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) for _, m in model.named_modules()
    )


def load_base(model_spec: str, precision: str):
    """mlx_lm.load, then convert to the wanted precision: dequantize for float, quantize for
    4/8-bit."""
    try:
        model, tokenizer = load(model_spec)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise UserError(f"cannot load model {model_spec!r}: {exc}") from None
    if precision in _FLOATS:
        if is_quantized(model):
            _widen_scales(model, _FLOATS[precision])
            dequantize_model(model)
        dtype = _FLOATS[precision]
        model.set_dtype(dtype, predicate=lambda t: mx.issubdtype(t, mx.floating))
    elif not is_quantized(model):
        bits = 4 if precision == "4bit" else 8
        nn.quantize(model, group_size=64, bits=bits, class_predicate=_quantizable)
    mx.eval(model.parameters())
    return model, tokenizer


def _widen_scales(model: nn.Module, dtype) -> None:
    """mx.dequantize computes in the scales' dtype: float16 scales (a GGUF import's) give float16
    values, 6e-4 off the blocks' own; in float32, q·d + m is exact. mlx-lm's dequantize_model keeps
    them."""
    if dtype != mx.float32:
        return
    for _, module in model.named_modules():
        if isinstance(module, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
            module.scales = module.scales.astype(mx.float32)
            if getattr(module, "biases", None) is not None:
                module.biases = module.biases.astype(mx.float32)


def _quantizable(path: str, module: nn.Module) -> bool:
    return hasattr(module, "to_quantized") and module.weight.shape[-1] % 64 == 0


def lora_keys(model: nn.Module, targets: list[str]) -> list[str]:
    """The module names inside a transformer block that the profile's targets refer to."""
    wanted = {alias: t for t in targets for alias in TARGET_ALIASES[t]}
    keys = [
        name
        for name, module in model.layers[0].named_modules()
        if name.rsplit(".", 1)[-1] in wanted and isinstance(module, (nn.Linear, nn.QuantizedLinear))
    ]
    if not keys:
        raise UserError(
            f"none of the LoRA targets {targets} match a linear layer of this model "
            f"(its block has: {', '.join(n for n, _ in model.layers[0].named_modules() if n)})"
        )
    return keys


def trained_blocks(profile, model: nn.Module) -> int:
    return (
        len(model.layers)
        if profile.lora_layers < 0
        else min(profile.lora_layers, len(model.layers))
    )


def lora_parameters(profile, model: nn.Module) -> tuple[int, dict]:
    num_layers = trained_blocks(profile, model)
    params = {
        "rank": profile.lora_rank,
        "scale": profile.lora_scale,
        "dropout": profile.lora_dropout,
        "keys": lora_keys(model, profile.lora_targets),
    }
    return num_layers, params


def add_lora(model: nn.Module, profile) -> tuple[int, dict | None]:
    """Freeze the base and convert the targeted layers; returns (num_layers, lora_parameters).

    Full fine-tuning unfreezes every weight of the last num_layers blocks instead, as mlx-lm's
    train_model does (embeddings and head stay frozen); it has no LoRA parameters."""
    if profile.fine_tune_type == "full":
        num_layers = trained_blocks(profile, model)
        model.freeze()
        for block in model.layers[len(model.layers) - num_layers :]:
            block.unfreeze()
        return num_layers, None
    num_layers, params = lora_parameters(profile, model)
    model.freeze()
    linear_to_lora_layers(model, num_layers, params, use_dora=profile.fine_tune_type == "dora")
    return num_layers, params


def describe_base(model: nn.Module) -> str:
    """What the LoRA layers (or a full fine-tune) train on, in words: a run's note, so a 4-bit run
    shows it is one."""
    quantized = [m for _, m in model.named_modules() if isinstance(m, nn.QuantizedLinear)]
    adapters = [m for _, m in model.named_modules() if isinstance(m, (LoRALinear, DoRALinear))]
    full = "" if adapters else _full_training(model)
    if not quantized:
        dtype = tree_flatten(model.parameters())[0][1].dtype
        return f"base {str(dtype).removeprefix('mlx.core.')}: no quantized layers{full}"
    kinds = " and ".join(
        f"{b}-bit group {g}" for b, g in sorted({(m.bits, m.group_size) for m in quantized})
    )
    adapted = sum(isinstance(m.linear, nn.QuantizedLinear) for m in adapters)
    return (
        f"base {kinds}: {len(quantized)} QuantizedLinear layers, {adapted} of them under LoRA{full}"
    )


def _full_training(model: nn.Module) -> str:
    blocks = sum(bool(tree_flatten(block.trainable_parameters())) for block in model.layers)
    if not blocks:
        return ""
    trained = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    return (
        f"; full fine-tuning: every weight of {blocks} of {len(model.layers)} blocks "
        f"({trained:,} parameters)"
    )
