"""Where a run's training stands: the record in runs/<id>/training_state.json and in each
checkpoint's state.json.

This dataclass is the only code that reads or writes those files, so the engine that saves a
checkpoint, the supervisor that notes a failure and the cockpit that shows a run agree on one
set of keys. The keys are the ones run folders have always had: old folders still load and
resume, and keys this version does not know are ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from farense_tui.engine.files import atomic_write_json, read_json

RUN_FILE = "training_state.json"
CHECKPOINT_FILE = "state.json"


@dataclass
class TrainingState:
    step: int = 0  # optimizer steps done (1-based steps; 0 before the first)
    epoch: int = 0
    total_steps: int = 0
    data_position: dict = field(
        default_factory=dict
    )  # seed and step_in_epoch: where the data order stands
    best_val_loss: float | None = None  # None until an evaluation after step 0
    best_step: int = 0
    evals_since_best: int = 0  # evaluations without a better loss, for early stopping
    trained_tokens: int = 0
    restarts: int = 0  # engine processes that resumed this run (recovery, switch, resume by hand)
    config_hash: str = ""  # RunConfig.training_hash(): a checkpoint resumes only under the same one
    training_key: dict = field(default_factory=dict)  # what the hash covers, to say what changed
    rng: dict = field(default_factory=dict)  # the seed and how each step's RNG derives from it
    batch_size: int = 0
    grad_accumulation: int = 0
    max_seq_length: int = 0
    profile: str = ""
    saved_at: float = 0.0  # time.time() of the write
    checkpoint: str = (
        ""  # folder name under checkpoints/ ("step-0000040"); "" when none is complete
    )
    failures: list[dict] = field(
        default_factory=list
    )  # the supervisor's record: {"time", "what"} each

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainingState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, run_dir: Path) -> TrainingState | None:
        """The run's record, or None when there is none (or it cannot be read)."""
        return cls.from_file(run_dir / RUN_FILE)

    @classmethod
    def from_file(cls, path: Path) -> TrainingState | None:
        """A record from training_state.json or a checkpoint's state.json; None if unreadable."""
        data = read_json(path)
        return cls.from_json(data) if isinstance(data, dict) else None

    def save(self, run_dir: Path) -> None:
        """Replace the run's record whole (temp + rename), so a kill leaves the old or the new
        one."""
        atomic_write_json(run_dir / RUN_FILE, self.to_json())

    def save_in_checkpoint(self, folder: Path) -> None:
        """The copy a checkpoint folder keeps of the record it was saved with."""
        atomic_write_json(folder / CHECKPOINT_FILE, self.to_json())
