"""Route `fused`: base + adapter into one MLX model folder, with mlx-lm's own fuse code.

The steps are those of `mlx_lm.fuse.main` (load with the adapter, `fuse()` each LoRA layer,
optionally dequantize, `save`); it is a CLI, so its functions are called rather than it.
A quantized base is dequantized by default: mlx-lm's quantized fuse re-quantizes W + ΔW, which
can round the LoRA delta away (seen on the demo: 1 of 5 answers changed). The saved folder is
checked against base + adapter on the run's own questions, and refused when its answers differ.
"""

from __future__ import annotations

from pathlib import Path

from mlx.utils import tree_unflatten
from mlx_lm.utils import dequantize_model, load, save

from farense_tui.engine.data.system_message import SYSTEM_MESSAGE_FILE, training_system_message
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.compare import probes, same_answers
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.export.samples import check_conversations
from farense_tui.engine.models.gguf_general import copy_general
from farense_tui.engine.models.local import resolve_model


def fuse_layers(model, dequantize: bool) -> None:
    fused = [
        (name, m.fuse(dequantize=dequantize))
        for name, m in model.named_modules()
        if hasattr(m, "fuse")
    ]
    if fused:
        model.update_modules(tree_unflatten(fused))


def fuse_model(plan: ExportPlan, dequantize: bool, conversations=None):
    """(model, tokenizer, config, probes of base+adapter before fusing) — the probes when
    `conversations`. A full fine-tune's model folder is loaded as it is: it has nothing to fuse and
    float weights."""
    if plan.is_model:
        model, tokenizer, config = load(str(plan.adapter), return_config=True)
    else:
        model, tokenizer, config = load(
            resolve_model(plan.base_model), adapter_path=str(plan.adapter), return_config=True
        )
    before = probes(model, tokenizer, conversations) if conversations else None
    fuse_layers(model, dequantize)
    if dequantize:
        dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    return model, tokenizer, config, before


def export_fused(plan: ExportPlan, folder: Path, progress) -> str:
    """Write the fused model into `folder`; returns the check: the saved folder, loaded again by
    mlx_lm.load, answers the run's check questions as base+adapter does (else nothing is
    written)."""
    data = Path(plan.config.data)
    conversations = check_conversations(data)
    progress(
        f"loading the base model with the adapter; its answers to {len(conversations)} check "
        f"questions"
    )
    model, tokenizer, config, before = fuse_model(plan, plan.dequantize, conversations)
    quantized = "quantization" in config
    progress(
        f"writing the fused model ({'quantized as the base' if quantized else 'float weights'})"
    )
    save(
        folder,
        str(plan.adapter) if plan.is_model else resolve_model(plan.base_model),
        model,
        tokenizer,
        config,
        donate_model=True,
    )
    del model
    copy_general(
        resolve_model(plan.base_model), folder
    )  # a GGUF export of this model keeps the source's keys
    system = training_system_message(data)  # what `chat --run` sends; `chat --model` reads it back
    if system:
        (folder / SYSTEM_MESSAGE_FILE).write_text(system, encoding="utf-8")
    progress("checking: the saved folder through mlx_lm.load against base + adapter")
    again, tokenizer = load(str(folder))
    ok, check = same_answers(
        probes(again, tokenizer, conversations), before, "fused vs base+adapter"
    )
    if not ok and quantized:
        raise UserError(
            f"kept quantized, the fused model does not answer like base + adapter ({check}): "
            "re-quantizing W + ΔW rounds the adapter away; export without --keep-quantized"
        )
    if not ok:
        raise UserError(
            f"the fused model does not answer like base + adapter ({check}); nothing was written"
        )
    return check
