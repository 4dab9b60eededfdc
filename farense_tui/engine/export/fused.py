"""Route `fused`: base + adapter into one MLX model folder, with mlx-lm's own fuse code.

The steps are those of `mlx_lm.fuse.main` (load with the adapter, `fuse()` each LoRA layer,
optionally dequantize, `save`); it is a CLI, so its functions are called rather than it.
"""

from __future__ import annotations

from pathlib import Path

from mlx.utils import tree_unflatten
from mlx_lm.utils import dequantize_model, load, save

from farense_tui.engine.export.compare import Probe, probe, prompt_tokens
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.export.samples import check_messages
from farense_tui.engine.models.local import resolve_model


def fuse_model(plan: ExportPlan, dequantize: bool, tokens_for=None):
    """(model, tokenizer, config, probe of base+adapter before fusing) — the probe when `tokens_for`."""
    model, tokenizer, config = load(resolve_model(plan.base_model), adapter_path=str(plan.adapter),
                                    return_config=True)
    before = None
    if tokens_for is not None:
        before = probe(model, tokenizer, tokens_for(tokenizer))
    fused = [(name, m.fuse(dequantize=dequantize)) for name, m in model.named_modules() if hasattr(m, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    if dequantize:
        dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    return model, tokenizer, config, before


def export_fused(plan: ExportPlan, folder: Path, progress) -> str:
    """Write the fused model into `folder`; returns the check: the saved folder, loaded again by
    mlx_lm.load, against base+adapter on a question from the run's data."""
    messages = check_messages(Path(plan.config.data))
    progress("loading the base model with the adapter")
    model, tokenizer, config, before = fuse_model(
        plan, plan.dequantize, tokens_for=lambda tok: prompt_tokens(tok, messages))
    progress(f"writing the fused model ({'dequantized' if plan.dequantize else 'quantization as the base'})")
    save(folder, resolve_model(plan.base_model), model, tokenizer, config, donate_model=True)
    del model
    progress("checking: the saved folder through mlx_lm.load against base + adapter")
    again, tokenizer = load(str(folder))
    after: Probe = probe(again, tokenizer, prompt_tokens(tokenizer, messages))
    return after.against(before, "fused vs base+adapter")
