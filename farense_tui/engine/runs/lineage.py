"""Runs that build on runs (`train --from RUN[:CHECKPOINT]`): the parent's adapter, found and
checked without MLX, and the LoRA shape the child must share with it to start from its weights.

A child either starts its LoRA weights as the parent's adapter (same base, same targets, rank,
scale and blocks), or, with `--fuse`, trains a fresh adapter on the parent's fused model. Its
config names the parent, so `runs` and the cockpit show where it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import default_out, plan_export
from farense_tui.engine.profiles.profile import Profile
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.folder import find_run
from farense_tui.engine.runs.run_folder import RunFolder

# What an adapter's weights are the shape of (and scale: the same weights at another scale are
# another model).
LORA_SHAPE = ("lora_rank", "lora_scale", "lora_targets", "lora_layers")


@dataclass(frozen=True)
class Parent:
    run_dir: Path
    checkpoint: str  # best | final | a step number
    adapter: Path  # the folder with adapters.safetensors
    config: RunConfig

    @property
    def name(self) -> str:
        return f"{self.run_dir.name}:{self.checkpoint}"


def find_parent(spec: str) -> Parent:
    """RUN or RUN:CHECKPOINT (default best), with the same refusals as an export of that adapter."""
    run, _, checkpoint = spec.partition(":")
    parent = RunFolder(find_run(run))
    checkpoint = checkpoint or "best"
    return Parent(
        parent.path, checkpoint, parent.adapter(checkpoint, last=False), parent.load_config()
    )


def parent_and_model(
    spec: str, fuse: bool, model: str | None, progress: Callable[[str], None] = lambda _: None
) -> tuple[Parent, str | None]:
    """The run that --from names, and the model to train on: with --fuse, its fused model (the
    export's, reused when it is already in models/), exported here when it is not."""
    parent = find_parent(spec)
    if not fuse:
        return parent, model
    if model:
        raise UserError("--fuse trains on the parent's fused model: leave --model out")
    fused = default_out(parent.run_dir, parent.checkpoint, "fused")
    if (fused / "config.json").is_file():
        progress(f"base: {fused} (the fused model of {parent.name}, already exported)")
        return parent, str(fused)
    from farense_tui.engine.export.run import run_export  # MLX: only when there is a model to fuse

    result = run_export(plan_export(parent.run_dir, "fused", parent.checkpoint), progress=progress)
    progress(f"base: {result.path} (fused from {parent.name}; {result.check})")
    return parent, str(result.path)


def inherit_lora(profile: Profile, parent: Parent, settings: dict) -> Profile:
    """The profile with the parent's LoRA shape, so its weights load; a setting that asks for
    another shape is refused rather than silently dropped."""
    theirs = parent.config.profile
    clash = [
        f"{k} {settings[k]!r} (the parent has {getattr(theirs, k)!r})"
        for k in LORA_SHAPE
        if k in settings and settings[k] != getattr(theirs, k)
    ]
    if clash:
        raise UserError(
            f"--from {parent.name}: its adapter's weights need the same LoRA shape, but "
            f"{'; '.join(clash)}. Drop the setting, or use --fuse to train a new adapter "
            "on the parent's fused model"
        )
    return profile.replace(**{k: getattr(theirs, k) for k in LORA_SHAPE})


def check_same_base(parent: Parent, model: str) -> None:
    if (
        Path(model).resolve() != Path(parent.config.model).resolve()
        and model != parent.config.model
    ):
        raise UserError(
            f"--from {parent.name}: that adapter was trained on {parent.config.model}, not "
            f"{model}; leave --model out to continue on its base, or use --fuse"
        )
