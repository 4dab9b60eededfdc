"""Route `peft`: the adapter in Hugging Face PEFT's naming and layout, proven against the fused weights.

mlx-lm stores `lora_a` (in, r) and `lora_b` (r, out) and adds scale·x·a·b; PEFT stores
`lora_A.weight` (r, in) and `lora_B.weight` (out, r) and adds (lora_alpha/r)·B·A·x. So A = aᵀ,
B = bᵀ, lora_alpha = scale × r. A model imported from GGUF keeps llama.cpp's q/k row order
(`rope_traditional`); a PEFT adapter targets the Hugging Face model, so q/k rows of B go back to
Hugging Face's order. No library writes this conversion; mlx-lm only reads and writes its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.utils import load

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.models.local import local_folder, resolve_model
from farense_tui.engine.runs.run_folder import ADAPTER_CONFIG, ADAPTER_WEIGHTS

PREFIX = "base_model.model."
_LAYER = re.compile(r"model\.layers\.(\d+)\.")


def hf_row_order(weight: mx.array, n_heads: int) -> mx.array:
    """Undo llama.cpp's q/k permutation (mlx_lm.gguf.permute_weights) on a weight's output rows."""
    rows = weight.shape[0]
    return weight.reshape(n_heads, rows // n_heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _base_config(plan: ExportPlan) -> dict:
    folder = local_folder(plan.base_model)
    return json.loads((folder / "config.json").read_text()) if folder else {}


def peft_tensors(adapter: dict, base_config: dict) -> tuple[dict, dict]:
    """(PEFT tensors, per-module facts) from mlx-lm's lora_a/lora_b pairs."""
    traditional = base_config.get("rope_traditional", False)
    heads = base_config.get("num_attention_heads", 0)
    kv_heads = base_config.get("num_key_value_heads", heads)
    out, modules = {}, {}
    for name in sorted(k for k in adapter if k.endswith(".lora_a")):
        stem = name.removesuffix(".lora_a")
        if f"{stem}.lora_b" not in adapter:
            raise UserError(f"adapter tensor {stem}.lora_b is missing (a LoRA layer needs both a and b)")
        a, b = adapter[name], adapter[f"{stem}.lora_b"]
        lora_b = b.T
        if traditional and stem.endswith(("q_proj", "k_proj")):
            lora_b = hf_row_order(lora_b, heads if stem.endswith("q_proj") else kv_heads)
        out[f"{PREFIX}{stem}.lora_A.weight"] = a.T
        out[f"{PREFIX}{stem}.lora_B.weight"] = lora_b
        modules[stem] = a.shape[1]
    if not out:
        raise UserError("the adapter has no LoRA tensors (lora_a/lora_b); DoRA and full fine-tunes have no PEFT LoRA form")
    return out, modules


def peft_config(plan: ExportPlan, lora: dict, modules: dict, n_layers: int | None) -> dict:
    ranks = set(modules.values())
    if len(ranks) != 1:
        raise UserError(f"the adapter mixes LoRA ranks {sorted(ranks)}; PEFT's config holds one")
    rank = ranks.pop()
    layers = sorted({int(m[1]) for stem in modules if (m := _LAYER.match(stem))})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": plan.base_model,
        "r": rank,
        "lora_alpha": float(lora["scale"]) * rank,
        "lora_dropout": float(lora.get("dropout", 0.0)),
        "target_modules": sorted({stem.rsplit(".", 1)[-1] for stem in modules}),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "use_dora": False,
        "use_rslora": False,
    }
    if n_layers is None or layers != list(range(n_layers)):
        config["layers_to_transform"] = layers
    return config


def write_peft(plan: ExportPlan, folder: Path, progress) -> str:
    """adapter_model.safetensors + adapter_config.json in `folder`; returns the check."""
    settings = json.loads((plan.adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if settings.get("fine_tune_type", "lora") != "lora":
        raise UserError(f"{plan.adapter}: a {settings['fine_tune_type']!r} adapter has no PEFT LoRA form")
    lora = settings["lora_parameters"]
    base = _base_config(plan)
    progress("renaming and transposing the LoRA tensors to PEFT's layout")
    adapter = mx.load(str(plan.adapter / ADAPTER_WEIGHTS))
    tensors, modules = peft_tensors(adapter, base)
    config = peft_config(plan, lora, modules, base.get("num_hidden_layers"))
    mx.save_safetensors(str(folder / "adapter_model.safetensors"), tensors, metadata={"format": "pt"})
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    progress("checking: W + (alpha/r)·B·A against mlx-lm's fused weights")
    return peft_check(plan, folder)


def _dense(linear) -> mx.array:
    if isinstance(linear, nn.QuantizedLinear):
        return mx.dequantize(linear.weight, linear.scales, linear.biases, linear.group_size, linear.bits,
                             mode=getattr(linear, "mode", "affine"))
    return linear.weight


def peft_check(plan: ExportPlan, folder: Path) -> str:
    """Rebuild every adapted weight from the PEFT files alone and compare it with mlx-lm's own
    `fuse()` of the same layer: the largest difference relative to the weight's largest entry."""
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    tensors = mx.load(str(folder / "adapter_model.safetensors"))
    base = _base_config(plan)
    model, _ = load(resolve_model(plan.base_model), adapter_path=str(plan.adapter))
    worst, count = 0.0, 0
    for name, layer in model.named_modules():
        if not hasattr(layer, "fuse"):
            continue
        A, B = tensors[f"{PREFIX}{name}.lora_A.weight"], tensors[f"{PREFIX}{name}.lora_B.weight"]
        W, expected = _dense(layer.linear), layer.fuse(dequantize=True).weight
        if base.get("rope_traditional") and name.endswith(("q_proj", "k_proj")):
            heads = base["num_attention_heads" if name.endswith("q_proj") else "num_key_value_heads"]
            W, expected = hf_row_order(W, heads), hf_row_order(expected, heads)
        rebuilt = W.astype(mx.float32) + (config["lora_alpha"] / config["r"]) * (B @ A)
        error = mx.abs(rebuilt - expected.astype(mx.float32)).max() / mx.abs(expected).max()
        worst, count = max(worst, error.item()), count + 1
    if count != len(tensors) // 2:
        raise UserError(f"{folder}: {len(tensors) // 2} PEFT modules but {count} LoRA layers in the model")
    if worst > 1e-3:
        raise UserError(f"the PEFT tensors do not rebuild the fused weights (relative error {worst:.2g}); nothing was written")
    return f"W + (alpha/r)·B·A vs fused: {count} modules, max relative error {worst:.2g}"
