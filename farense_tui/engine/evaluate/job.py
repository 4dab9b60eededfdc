"""An evaluation seen from outside: its settings, its files under runs/<id>/eval/, starting it as
its own process, following and cancelling it. No MLX: the cockpit and the CLI both use this.

Like a training run, an evaluation is a detached process that writes its progress as events, so
it never blocks the cockpit, survives a dropped SSH session and can be followed by `follow`:
runs/<id>/eval/<checkpoint>-<split>.job/ holds job.json (the settings), events.jsonl,
commands.jsonl (cancel), process.pid and eval.log; the results land beside it as
<checkpoint>-<split>.json and <checkpoint>-<split>.answers.jsonl.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from farense_tui.engine.detached import start_detached
from farense_tui.engine.errors import UserError
from farense_tui.engine.evaluate.examples import split_path
from farense_tui.engine.files import atomic_write_json, read_json
from farense_tui.engine.processes import EVALUATION
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.folder import process_alive
from farense_tui.engine.runs.run_folder import COMMANDS, EVENTS, RunFolder

# Answers generated at once: the faster size measured (BENCHMARKS.md, "Evaluation in batches").
DEFAULT_BATCH = 32
DEFAULT_SAMPLE_SEED = 123  # the sample --samples draws when no --seeds are given


@dataclass
class EvalSettings:
    run_dir: str
    checkpoint: str = "best"  # best | final | last | a step number
    split: str = "test"  # test | valid | a JSONL file
    base: bool = True  # also score the base model (no adapter) on the same examples
    max_tokens: int = 128
    samples: int = 0  # examples per seed; 0 = all
    seeds: list[int] = field(default_factory=list)
    batch_size: int = DEFAULT_BATCH
    price_per_hour: float | None = None
    system: str | None = None  # for examples without one; None = the run's training system message

    def __post_init__(self):
        # A sample size alone asks for one sample, seeded so that it is the same each time.
        if self.samples > 0 and not self.seeds:
            self.seeds = [DEFAULT_SAMPLE_SEED]

    @property
    def name(self) -> str:
        split = self.split if self.split in ("test", "valid", "train") else Path(self.split).stem
        return f"{self.checkpoint}-{split}"

    @classmethod
    def from_dict(cls, data: dict) -> "EvalSettings":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class EvalJob:
    run_dir: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.run_dir / "eval" / f"{self.name}.job"

    @property
    def result_path(self) -> Path:
        return self.run_dir / "eval" / f"{self.name}.json"

    @property
    def answers_path(self) -> Path:
        return self.run_dir / "eval" / f"{self.name}.answers.jsonl"

    def result(self) -> dict | None:
        return read_json(self.result_path)

    def answers(self) -> list[dict]:
        """The scored answers of the last finished evaluation (an empty list if there is none)."""
        try:
            return [
                json.loads(line)
                for line in self.answers_path.read_text(encoding="utf-8").splitlines()
            ]
        except (OSError, json.JSONDecodeError):
            return []


def start(settings: EvalSettings) -> EvalJob:
    """Write the job's settings and start its process in its own session (it outlives the
    caller)."""
    job = EvalJob(Path(settings.run_dir), settings.name)
    check(settings)
    if is_alive(job):
        raise UserError(f"an evaluation {job.name} of run {job.run_dir.name} is already running")
    job.folder.mkdir(parents=True, exist_ok=True)
    for stale in (EVENTS, COMMANDS):
        (job.folder / stale).write_text("")  # a new evaluation starts a new history
    atomic_write_json(job.folder / "job.json", asdict(settings))
    start_detached(EVALUATION, job.folder, "eval.log", "process.pid", append=False)
    return job


def check(settings: EvalSettings) -> None:
    """What can be told before the process starts: the adapter and the split exist."""
    run = RunFolder(Path(settings.run_dir))
    run.adapter(settings.checkpoint)
    path = split_path(Path(run.load_config().data), settings.split)
    if not path.is_file():
        raise UserError(f"--split {settings.split}: {path} not found")


def is_alive(job: EvalJob | Path) -> bool:
    """Whether the job's process still runs; takes the job folder too, as `follow`'s is_alive
    does."""
    folder = job.folder if isinstance(job, EvalJob) else job
    return process_alive(folder / "process.pid", EVALUATION)


def cancel(job: EvalJob) -> None:
    """Ask the process to stop after the generation step in progress; it writes no result."""
    commands.send(job.folder, "cancel")
