"""A full fine-tune's best and final: a model folder in mlx-lm's layout (model.safetensors and its
index, config.json, tokenizer files), loadable by `mlx_lm.load(folder)` and `mlx_lm.generate
--model`.

mlx-lm's full fine-tuning saves only the trained weights (adapters.safetensors, which our
checkpoints keep for resume); chat, eval, serve and export want the whole model, so the trainer
writes it with mlx-lm's own save_model / save_config, atomically like the adapters (temp folder,
then rename).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlx.nn as nn
from mlx_lm.utils import hf_repo_to_path, load_config, save_config, save_model

from farense_tui.engine.models.local import local_folder
from farense_tui.engine.runs.run_folder import RunFolder, staged
from farense_tui.engine.training.checkpoint_writer import swap_in

BASE_EXTRAS = (
    "generation_config.json",
    "system_message.txt",
)  # beside the weights, as mlx-lm's save copies them


def publish_model(run_dir: Path, name: str, model: nn.Module, tokenizer, base: str) -> Path:
    """Write the model as it is now to runs/<id>/<name>/ with the base's config and tokenizer."""
    source = local_folder(base) or Path(hf_repo_to_path(base))
    tmp = staged(RunFolder(run_dir).published(name))
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(tmp, model)
    config = load_config(source)
    for key in (
        "quantization",
        "quantization_config",
    ):  # the weights are float: a full fine-tune dequantized them
        config.pop(key, None)
    save_config(config, tmp / "config.json")
    tokenizer.save_pretrained(str(tmp))
    for extra in BASE_EXTRAS:
        if (source / extra).is_file():
            shutil.copy2(source / extra, tmp / extra)
    return swap_in(run_dir, tmp, name)
