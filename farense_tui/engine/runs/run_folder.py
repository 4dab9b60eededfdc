"""A run's folder as one type: where each of its files lies, how its checkpoints are laid out, and
which adapter a checkpoint name means. No MLX: the engine, the CLI, the cockpit and tests all find
a run's files through it, so the layout is written once.

runs/<id>/
  config.toml                  RunConfig (runs/config.py): model, data, profile
  events.jsonl                 what happened, appended by the engine and supervisor (runs/events.py)
  commands.jsonl               what was asked (pause, stop, switch…), appended by any front end
  training_state.json          where training stands (runs/training_state.py)
  supervisor.pid, engine.pid   its processes; engine.log their output; engine.exit rank 0's exit
                               code
  checkpoints/step-NNNNNNN/    adapters.safetensors + adapter_config.json (mlx-lm's format),
                               optimizer.safetensors, state.json; written as .tmp-step-N and renamed
                               in, a same-step save moves the old one aside as .old-step-N
  best/, final/                published adapters (adapters.safetensors + adapter_config.json); a
                               full fine-tune's are model folders (model*.safetensors + index,
                               config.json, tokenizer)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.training_state import CHECKPOINT_FILE, RUN_FILE

CONFIG = "config.toml"
EVENTS = "events.jsonl"  # also in an evaluation's and a group's folder
COMMANDS = "commands.jsonl"
ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
OPTIMIZER = "optimizer.safetensors"
# a full fine-tune's best/final are model folders (mlx-lm's save_model)
MODEL_INDEX = "model.safetensors.index.json"
ADAPTER_FILES = (ADAPTER_WEIGHTS, ADAPTER_CONFIG)
COMPLETE = (*ADAPTER_FILES, OPTIMIZER, CHECKPOINT_FILE)  # what a checkpoint folder holds once whole
PUBLISHED = ("best", "final")  # adapters copied out of the checkpoints, beside them
STEP_PREFIX, STAGED, ASIDE = "step-", ".tmp-", ".old-"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def events(self) -> Path:
        return self.path / EVENTS

    @property
    def commands(self) -> Path:
        return self.path / COMMANDS

    @property
    def training_state(self) -> Path:
        return self.path / RUN_FILE

    @property
    def supervisor_pid(self) -> Path:
        return self.path / "supervisor.pid"

    @property
    def engine_pid(self) -> Path:
        return self.path / "engine.pid"

    @property
    def engine_log(self) -> Path:
        return self.path / "engine.log"

    @property
    def engine_exit(self) -> Path:
        return self.path / "engine.exit"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def load_config(self) -> RunConfig:
        """The run's RunConfig (a UserError naming config.toml when it cannot be read)."""
        return RunConfig.load(self.config)

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"{STEP_PREFIX}{step:07d}"

    def published(self, name: str) -> Path:
        """best/ or final/."""
        return self.path / name

    def step_folders(self) -> list[Path]:
        """checkpoints/step-*/ folders, whole or not, oldest first."""
        return sorted(p for p in self.checkpoints.glob(f"{STEP_PREFIX}*") if p.is_dir())

    def complete_checkpoints(self) -> list[Path]:
        """Whole checkpoint folders, newest step first; one moved aside counts while its step has
        no other (a kill between a same-step save's two renames)."""
        found = [p for p in self.checkpoints.glob(f"{STEP_PREFIX}*") if is_complete(p)]
        names = {p.name for p in found}
        found += [
            p
            for p in self.checkpoints.glob(f"{ASIDE}{STEP_PREFIX}*")
            if p.name.removeprefix(ASIDE) not in names and is_complete(p)
        ]
        return sorted(found, key=step_of, reverse=True)

    def adapter_choices(self) -> list[str]:
        """The adapters a run offers: 'best', 'final', then checkpoint steps, newest first."""
        out = [
            name
            for name in PUBLISHED
            if (self.published(name) / ADAPTER_WEIGHTS).exists()
            or is_model_folder(self.published(name))
        ]
        return out + [str(step_of(p)) for p in reversed(self.step_folders())]

    def adapter(self, name: str, *, last: bool = True) -> Path:
        """The adapter folder a checkpoint name means: best, final, a step number, or with `last`
        "last" (the newest whole checkpoint, else final; an export or a child run names one that
        stays). The one refusal, naming what the run offers, when the name means nothing or its
        adapter is not there."""
        choices = self.adapter_choices()
        names = ("best", "last", "final") if last else PUBLISHED
        if name in PUBLISHED:
            folder = self.published(name)
        elif name == "last" and last:
            from farense_tui.engine.runs.checkpoints import (
                latest_checkpoint,
            )  # it reads this layout

            found = latest_checkpoint(self.path)
            folder = found[0] if found else self.published("final")
        elif name.isdigit():
            folder = self.checkpoint(int(name))
        else:
            raise UserError(
                f"--checkpoint {name!r}: expected {', '.join(names)} or a step number "
                f"(run {self.name} has: {', '.join(choices) or 'no adapter yet'})"
            )
        if not (folder / ADAPTER_WEIGHTS).is_file() and not is_model_folder(folder):
            if not choices:
                raise UserError(
                    f"run {self.name} has no adapter yet: train it first (or let it save a "
                    f"checkpoint)"
                )
            raise UserError(
                f"run {self.name} has no adapter {name!r} (available: {', '.join(choices)})"
            )
        return folder


def is_model_folder(folder: Path) -> bool:
    """A full fine-tune's best or final: a whole model (mlx-lm's save_model layout), not an
    adapter."""
    return (folder / MODEL_INDEX).is_file() and (folder / "config.json").is_file()


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in COMPLETE)


def step_of(folder: Path) -> int:
    """The step of a checkpoint folder: step-0000040, .old-step-0000040 or .tmp-step-0000040."""
    return int(folder.name.rsplit("-", 1)[1])


def staged(folder: Path) -> Path:
    """Where `folder` is written before it is renamed in."""
    return folder.parent / f"{STAGED}{folder.name}"


def aside(folder: Path) -> Path:
    """Where `folder` is moved while a new copy is renamed in."""
    return folder.parent / f"{ASIDE}{folder.name}"
