"""The `peft` route's check: the PEFT files alone must rebuild every adapted weight in Hugging
Face's layout.

The expected weights are mlx-lm's own `fuse()` of each layer of the base as stored in its folder. A
GGUF-imported base stores q/k rows in llama.cpp's order; the check brings them to Hugging Face's
order with its own reference of llama.cpp's permutation (index by index, in numpy), written apart
from the export's reshape, so a wrong row order in the export cannot also be the check's.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.utils import load

from farense_tui.engine.errors import UserError
from farense_tui.engine.models.local import local_folder, resolve_model

PREFIX = "base_model.model."


def llama_cpp_rows_to_hf(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Hugging Face's q/k rows from llama.cpp's. convert_hf_to_gguf.py's `permute` puts Hugging Face
    row h·d + j of head h (head size d) at h·d + 2j when j < d/2 (first halves of the rotary pairs)
    and at h·d + 2(j − d/2) + 1 otherwise; this reads every row back from there."""
    d = weight.shape[0] // n_heads
    source = [
        h * d + (2 * j if j < d // 2 else 2 * (j - d // 2) + 1)
        for h in range(n_heads)
        for j in range(d)
    ]
    return weight[np.array(source)]


def _dense(linear) -> mx.array:
    if isinstance(linear, nn.QuantizedLinear):
        return mx.dequantize(
            linear.weight,
            linear.scales,
            linear.biases,
            linear.group_size,
            linear.bits,
            mode=getattr(linear, "mode", "affine"),
        )
    return linear.weight


def _numpy(weight: mx.array) -> np.ndarray:
    return np.array(weight.astype(mx.float32))


def peft_check(base_model: str, adapter: Path, folder: Path) -> str:
    """Rebuild W + (alpha/r)·B·A from the PEFT files and compare it with the fused weight, both in
    Hugging Face's layout: the largest difference relative to the weight's largest entry."""
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    tensors = mx.load(str(folder / "adapter_model.safetensors"))
    base_dir = local_folder(base_model)
    base = json.loads((base_dir / "config.json").read_text()) if base_dir else {}
    model, _ = load(resolve_model(base_model), adapter_path=str(adapter))
    worst, count = 0.0, 0
    for name, layer in model.named_modules():
        if not hasattr(layer, "fuse"):
            continue
        A, B = (
            _numpy(tensors[f"{PREFIX}{name}.lora_A.weight"]),
            _numpy(tensors[f"{PREFIX}{name}.lora_B.weight"]),
        )
        W, expected = _numpy(_dense(layer.linear)), _numpy(layer.fuse(dequantize=True).weight)
        if base.get("rope_traditional") and name.endswith(("q_proj", "k_proj")):
            heads = base["num_attention_heads"]
            if name.endswith("k_proj"):
                heads = base.get("num_key_value_heads", heads)
            W, expected = llama_cpp_rows_to_hf(W, heads), llama_cpp_rows_to_hf(expected, heads)
        rebuilt = W + (config["lora_alpha"] / config["r"]) * (B @ A)
        error = float(np.abs(rebuilt - expected).max() / np.abs(expected).max())
        worst, count = max(worst, error), count + 1
    if count != len(tensors) // 2:
        raise UserError(
            f"{folder}: {len(tensors) // 2} PEFT modules but {count} LoRA layers in the model"
        )
    if worst > 1e-3:
        raise UserError(
            f"the PEFT tensors do not rebuild the fused weights in Hugging Face's layout "
            f"(relative error {worst:.2g}); nothing was written"
        )
    return (
        f"W + (alpha/r)·B·A vs fused, Hugging Face layout: {count} modules, max relative error "
        f"{worst:.2g}"
    )
