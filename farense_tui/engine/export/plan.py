"""What an export reads and writes, decided before any MLX work: checked inputs, one final path.

No MLX here, so the CLI and the cockpit can refuse bad input (no adapter, unknown checkpoint,
existing output) at once, before loading anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.routes import ROUTES
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.run_folder import ADAPTER_CONFIG, RunFolder, is_model_folder


@dataclass(frozen=True)
class ExportPlan:
    run_dir: Path
    checkpoint: str  # best | final | a step number, as the user named it
    # the adapter folder (adapters.safetensors + adapter_config.json); a full fine-tune's model
    # folder
    adapter: Path
    route: str
    out: Path  # the final folder; written under a temp name first
    base_model: str  # the run's model (local folder or Hub id)
    settings_hash: str  # RunConfig.training_hash(): what the adapter was trained with
    keep_quantized: bool = (
        False  # fused: keep the base's quantization (checked; refused if answers change)
    )

    @property
    def dequantize(self) -> bool:
        """Whether the base's weights are written dequantized (GGUF routes: float16 always)."""
        return self.route in ("gguf", "ollama") or (
            self.route == "fused" and not self.keep_quantized
        )

    @property
    def is_model(self) -> bool:
        """A full fine-tune's best/final: the model itself, with no base to put it on."""
        return is_model_folder(self.adapter)

    @property
    def config(self) -> RunConfig:
        return RunFolder(self.run_dir).load_config()


def refuse_full_checkpoint(run: RunFolder, folder: Path, checkpoint: str) -> Path:
    """`folder`, unless it is a full fine-tune's checkpoint: the trained blocks only, which mlx-lm
    loads onto a float base alone (chat does so; an export or a server of it would not)."""
    if not is_model_folder(folder) and _fine_tune_type(folder) == "full":
        raise UserError(
            f"run {run.name} is a full fine-tune: its checkpoint {checkpoint} holds the trained "
            f"blocks "
            "only, for resuming; use best or final (model folders), or chat with the checkpoint"
        )
    return folder


def _fine_tune_type(adapter: Path) -> str:
    try:
        return json.loads((adapter / ADAPTER_CONFIG).read_text(encoding="utf-8")).get(
            "fine_tune_type", "lora"
        )
    except (OSError, ValueError):
        return "lora"


def default_out(run_dir: Path, checkpoint: str, route: str) -> Path:
    """Fused models go to models/ (so they are offered as base models); the rest beside the run."""
    tag = checkpoint if not checkpoint.isdigit() else f"step{int(checkpoint)}"
    if route == "fused":
        return paths.models_dir() / f"{run_dir.name}-{tag}"
    return run_dir / "exports" / f"{tag}-{route}"


def plan_export(
    run_dir: Path,
    route: str,
    checkpoint: str = "best",
    out: Path | None = None,
    keep_quantized: bool = False,
    force: bool = False,
) -> ExportPlan:
    if route not in ROUTES:
        raise UserError(f"--to {route!r}: expected one of {', '.join(ROUTES)}")
    if keep_quantized and route != "fused":
        raise UserError(
            f"--keep-quantized is for --to fused; "
            f"--to {route} writes {ROUTES[route].help.split(' (')[0]}"
        )
    run = RunFolder(run_dir)
    adapter = refuse_full_checkpoint(run, run.adapter(checkpoint, last=False), checkpoint)
    cfg = run.load_config()
    if route == "peft" and cfg.profile.fine_tune_type == "full":
        raise UserError(
            f"--to peft writes LoRA weights; run {run_dir.name} is a full fine-tune (every weight "
            f"of "
            "its blocks changed, there is no low-rank adapter): export --to fused or gguf instead"
        )
    if route == "peft" and cfg.profile.fine_tune_type != "lora":
        raise UserError(
            f"--to peft writes LoRA weights; run {run_dir.name} "
            f"trained {cfg.profile.fine_tune_type} "
            "(its magnitudes have no place there): export --to fused or gguf instead"
        )
    final = Path(out).expanduser().resolve() if out else default_out(run_dir, checkpoint, route)
    if final.exists() and not force:
        raise UserError(
            f"{final} already exists: pass --force to replace it, or --out another folder"
        )
    if final.exists() and not final.is_dir():
        raise UserError(f"{final} is a file; an export writes a folder")
    return ExportPlan(
        run_dir=run_dir,
        checkpoint=checkpoint,
        adapter=adapter,
        route=route,
        out=final,
        base_model=cfg.model,
        settings_hash=cfg.training_hash(),
        keep_quantized=keep_quantized,
    )
