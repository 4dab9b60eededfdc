"""Checkpoints that survive a kill at any instant, written because mlx-lm saves no optimizer state.

The engine writes them (runs/checkpoints.py reads them) in the layout of runs/run_folder.py: a
folder checkpoints/step-NNNNNNN/ with the adapter in mlx-lm's format (adapters.safetensors +
adapter_config.json, loadable by `mlx_lm.generate --adapter-path`), optimizer.safetensors and
state.json. It is written into a hidden temp folder and renamed into place; then
runs/<id>/training_state.json is replaced (temp + rename) to point at it. A kill before the rename
leaves the previous checkpoint and state untouched. A second save of the same step moves the old
folder aside (.old-step-N) before renaming the new one in, and only then deletes it, so a kill
between the two renames leaves a whole copy that runs/checkpoints.py puts back.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from farense_tui.engine.runs.run_folder import (
    ADAPTER_CONFIG,
    ADAPTER_FILES,
    ADAPTER_WEIGHTS,
    OPTIMIZER,
    RunFolder,
    aside,
    staged,
)
from farense_tui.engine.runs.training_state import TrainingState

KEEP_LAST = 3


def adapter_config(
    model_path: str, num_layers: int, lora: dict, fine_tune_type: str = "lora"
) -> dict:
    """adapter_config.json in the form mlx_lm.tuner.utils.load_adapters reads."""
    return {
        "fine_tune_type": fine_tune_type,
        "model": model_path,
        "num_layers": num_layers,
        "lora_parameters": lora,
    }


def save_adapter(folder: Path, weights: dict, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / ADAPTER_WEIGHTS), weights)
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")


def write_checkpoint(
    run_dir: Path,
    adapter_weights: dict,
    adapter_cfg: dict,
    optimizer_state: dict,
    state: TrainingState,
    pause: Callable[[str], None] = lambda stage: None,
) -> Path:
    """Write checkpoints/step-NNNNNNN/ for state.step and point training_state.json at it.

    `pause` is called between the stages (fault injection lands kills there)."""
    run = RunFolder(run_dir)
    final = run.checkpoint(state.step)
    tmp = staged(final)
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(tmp, adapter_weights, adapter_cfg)
    pause("adapter written")
    mx.save_safetensors(str(tmp / OPTIMIZER), dict(tree_flatten(optimizer_state)))
    previous = TrainingState.load(run_dir)
    # The supervisor records failures in the same file; a checkpoint must not drop them.
    record = replace(state, checkpoint=final.name, failures=previous.failures if previous else [])
    record.save_in_checkpoint(tmp)
    pause("folder written")
    old = aside(final)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        pause("old folder moved aside")
    tmp.rename(final)
    pause("folder renamed in")
    record.save(run_dir)
    shutil.rmtree(old, ignore_errors=True)
    _prune(run, keep=final.name)
    return final


def _prune(run: RunFolder, keep: str) -> None:
    for old in run.step_folders()[:-KEEP_LAST]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def load_optimizer_state(folder: Path) -> dict:
    return tree_unflatten(list(mx.load(str(folder / OPTIMIZER)).items()))


def publish_adapter(run_dir: Path, source: Path, name: str) -> Path:
    """Copy a checkpoint's adapter to runs/<id>/<name>/ (best or final) atomically."""
    tmp = staged(RunFolder(run_dir).published(name))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for f in ADAPTER_FILES:
        shutil.copy2(source / f, tmp / f)
    return swap_in(run_dir, tmp, name)


def publish_weights(run_dir: Path, name: str, weights: dict, config: dict) -> Path:
    """Write adapter weights straight to runs/<id>/<name>/ atomically (the best adapter)."""
    tmp = staged(RunFolder(run_dir).published(name))
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(tmp, weights, config)
    return swap_in(run_dir, tmp, name)


def swap_in(run_dir: Path, tmp: Path, name: str) -> Path:
    dest = RunFolder(run_dir).published(name)
    old = aside(dest)
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest
