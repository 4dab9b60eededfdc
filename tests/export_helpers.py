"""A run of the tiny model with an adapter whose LoRA weights are all non-zero, made in-process.

Export tests need an adapter in mlx-lm's format, not a training run: a freshly trained LoRA
still has near-zero B in places, while random A and B exercise every row and column of the
layout conversions. The adapter is written with the engine's own adapter writer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten

from farense_tui.engine import runs
from farense_tui.engine.models.loading import add_lora, load_base
from farense_tui.engine.training.checkpoint_writer import adapter_config, save_adapter
from tests.engine_helpers import tiny_config


def run_with_adapter(model_dir: Path, data_dir: Path, seed: int = 1, **changes) -> Path:
    cfg = tiny_config(
        model_dir, data_dir, **{"lora_targets": ["q", "k", "v", "o", "down"], **changes}
    )
    run_dir = runs.create_run(cfg)
    model, _ = load_base(str(model_dir), "float32")
    num_layers, params = add_lora(model, cfg.profile)
    mx.random.seed(seed)
    # DoRA's magnitudes (".m") start at the weight norms; a trained one moves a few percent from
    # them.
    weights = {
        k: v * (1 + 0.05 * mx.random.normal(v.shape))
        if k.endswith(".m")
        else 0.05 * mx.random.normal(v.shape)
        for k, v in tree_flatten(model.trainable_parameters())
    }
    save_adapter(
        run_dir / "best",
        weights,
        adapter_config(cfg.model, num_layers, params, cfg.profile.fine_tune_type),
    )
    return run_dir


def traditional_copy(model_dir: Path, dest: Path) -> Path:
    """The tiny model as if imported from GGUF: same weights, read with llama.cpp's rope (q/k
    order)."""
    shutil.copytree(model_dir, dest)
    config = json.loads((dest / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, "rope_traditional": True}))
    return dest
