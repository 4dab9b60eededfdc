"""Route `peft`: the adapter in Hugging Face PEFT's naming and layout, proven against the fused
weights.

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

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.peft_check import PREFIX, peft_check
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.models.local import local_folder, model_info
from farense_tui.engine.models.source import hub_id_of, hub_name
from farense_tui.engine.runs.run_folder import ADAPTER_CONFIG, ADAPTER_WEIGHTS

_LAYER = re.compile(r"model\.layers\.(\d+)\.")


def hf_row_order(weight: mx.array, n_heads: int) -> mx.array:
    """Undo llama.cpp's q/k permutation (mlx_lm.gguf.permute_weights) on a weight's output rows."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_heads, rows // n_heads // 2, 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


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
            raise UserError(
                f"adapter tensor {stem}.lora_b is missing (a LoRA layer needs both a and b)"
            )
        a, b = adapter[name], adapter[f"{stem}.lora_b"]
        lora_b = b.T
        if traditional and stem.endswith(("q_proj", "k_proj")):
            lora_b = hf_row_order(lora_b, heads if stem.endswith("q_proj") else kv_heads)
        out[f"{PREFIX}{stem}.lora_A.weight"] = a.T
        out[f"{PREFIX}{stem}.lora_B.weight"] = lora_b
        modules[stem] = a.shape[1]
    if not out:
        raise UserError(
            "the adapter has no LoRA tensors (lora_a/lora_b); DoRA and full fine-tunes have no "
            "PEFT LoRA form"
        )
    return out, modules


def peft_config(base_name: str, lora: dict, modules: dict, n_layers: int | None) -> dict:
    ranks = set(modules.values())
    if len(ranks) != 1:
        raise UserError(f"the adapter mixes LoRA ranks {sorted(ranks)}; PEFT's config holds one")
    rank = ranks.pop()
    layers = sorted({int(m[1]) for stem in modules if (m := _LAYER.match(stem))})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_name,
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


def write_peft(plan: ExportPlan, folder: Path, progress) -> tuple[str, dict]:
    """adapter_model.safetensors, adapter_config.json and README.md in `folder`; returns the check
    and, for provenance.json, the base's Hugging Face name and where it came from."""
    settings = json.loads((plan.adapter / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if settings.get("fine_tune_type", "lora") != "lora":
        raise UserError(
            f"{plan.adapter}: a {settings['fine_tune_type']!r} adapter has no PEFT LoRA form"
        )
    lora = settings["lora_parameters"]
    base = _base_config(plan)
    progress("renaming and transposing the LoRA tensors to PEFT's layout")
    adapter = mx.load(str(plan.adapter / ADAPTER_WEIGHTS))
    tensors, modules = peft_tensors(adapter, base)
    name, name_from = hub_name(plan.base_model, local_folder(plan.base_model))
    config = peft_config(name, lora, modules, base.get("num_hidden_layers"))
    mx.save_safetensors(
        str(folder / "adapter_model.safetensors"), tensors, metadata={"format": "pt"}
    )
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(peft_readme(plan, name, name_from), encoding="utf-8")
    progress("checking: W + (alpha/r)·B·A against mlx-lm's fused weights, in Hugging Face's layout")
    check = peft_check(plan.base_model, plan.adapter, folder)
    return check, {"peft_base": {"name": name, "from": name_from}}


def peft_readme(plan: ExportPlan, name: str, name_from: str) -> str:
    """How to load the export, and on which weights it was trained (a quantized base differs from
    the Hub's float weights, so the adapter fits those best)."""
    folder = local_folder(plan.base_model)
    stored = model_info(folder).quantization if folder else "as mlx-lm downloads it"
    precision = plan.config.profile.base_precision
    lines = [
        f"# LoRA adapter from farense-tui run {plan.run_dir.name} (checkpoint {plan.checkpoint})",
        "",
        f"Base model: `{name}` (from {name_from}).",
        f"Trained on `{plan.base_model}` with weights stored as {stored}, computed in {precision}"
        " (farense-tui's base_precision).",
    ]
    if "bit" in stored:
        lines.append(
            "The Hub's float weights differ a little from these quantized ones: expect answers "
            "close to, not identical with, farense-tui's."
        )
    if not hub_id_of(name):
        lines += [
            "",
            f"`{name}` is not a Hugging Face Hub id: set `base_model_name_or_path` in "
            "adapter_config.json (and the name below) to the base model's Hub id or a local "
            "Hugging Face model folder before loading.",
        ]
    lines += [
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM",
        "",
        f'base = AutoModelForCausalLM.from_pretrained("{name}")',
        f'model = PeftModel.from_pretrained(base, "{plan.out}")',
        "```",
        "",
        f'`AutoPeftModelForCausalLM.from_pretrained("{plan.out}")` loads the same base by '
        "the name in adapter_config.json.",
        "",
    ]
    return "\n".join(lines)
