"""What an export reads and writes, decided before any MLX work: checked inputs, one final path.

No MLX here, so the CLI and the cockpit can refuse bad input (no adapter, unknown checkpoint,
existing output) at once, before loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.run_folder import RunFolder

ROUTES = ("fused", "gguf", "peft", "ollama")
ROUTE_HELP = {
    "fused": "base + adapter as an MLX model folder in models/, dequantized (mlx_lm.generate, a base for farense-tui)",
    "gguf": "one float16 GGUF file for llama.cpp / LM Studio",
    "peft": "Hugging Face PEFT adapter (adapter_model.safetensors + adapter_config.json)",
    "ollama": "GGUF + Modelfile for `ollama create`",
}


@dataclass(frozen=True)
class ExportPlan:
    run_dir: Path
    checkpoint: str  # best | final | a step number, as the user named it
    adapter: Path  # the adapter folder (adapters.safetensors + adapter_config.json)
    route: str
    out: Path  # the final folder; written under a temp name first
    base_model: str  # the run's model (local folder or Hub id)
    settings_hash: str  # RunConfig.training_hash(): what the adapter was trained with
    keep_quantized: bool = False  # fused: keep the base's quantization (checked; refused if answers change)

    @property
    def dequantize(self) -> bool:
        """Whether the base's weights are written dequantized (GGUF routes: float16 always)."""
        return self.route in ("gguf", "ollama") or (self.route == "fused" and not self.keep_quantized)

    @property
    def config(self) -> RunConfig:
        return RunFolder(self.run_dir).load_config()


def default_out(run_dir: Path, checkpoint: str, route: str) -> Path:
    """Fused models go to models/ (so they are offered as base models); the rest beside the run."""
    tag = checkpoint if not checkpoint.isdigit() else f"step{int(checkpoint)}"
    if route == "fused":
        return paths.models_dir() / f"{run_dir.name}-{tag}"
    return run_dir / "exports" / f"{tag}-{route}"


def plan_export(run_dir: Path, route: str, checkpoint: str = "best", out: Path | None = None,
                keep_quantized: bool = False, force: bool = False) -> ExportPlan:
    if route not in ROUTES:
        raise UserError(f"--to {route!r}: expected one of {', '.join(ROUTES)}")
    if keep_quantized and route != "fused":
        raise UserError(f"--keep-quantized is for --to fused; --to {route} writes {ROUTE_HELP[route].split(' (')[0]}")
    run = RunFolder(run_dir)
    adapter = run.adapter(checkpoint, last=False)
    cfg = run.load_config()
    if route == "peft" and cfg.profile.fine_tune_type != "lora":
        raise UserError(f"--to peft writes LoRA weights; run {run_dir.name} trained {cfg.profile.fine_tune_type} "
                        "(its magnitudes have no place there): export --to fused or gguf instead")
    final = Path(out).expanduser().resolve() if out else default_out(run_dir, checkpoint, route)
    if final.exists() and not force:
        raise UserError(f"{final} already exists: pass --force to replace it, or --out another folder")
    if final.exists() and not final.is_dir():
        raise UserError(f"{final} is a file; an export writes a folder")
    return ExportPlan(run_dir=run_dir, checkpoint=checkpoint, adapter=adapter, route=route, out=final,
                      base_model=cfg.model, settings_hash=cfg.training_hash(), keep_quantized=keep_quantized)
