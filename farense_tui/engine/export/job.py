"""An export seen from outside: starting it as its own process, following and cancelling it.
No MLX: the cockpit uses this (the CLI runs the same export in its own process, `run_export`).

Like an evaluation, an export is a detached process that writes its progress as events, so a
front end follows it with `follow` and never holds MLX itself (MLX arrays are tied to the thread
that made them): runs/<id>/export-jobs/<checkpoint>-<route>/ holds job.json (the plan),
events.jsonl, commands.jsonl (cancel), process.pid and export.log; the export itself lands at the
plan's `out`, whole or not at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from farense_tui.engine.detached import start_detached
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import ExportPlan
from farense_tui.engine.files import atomic_write_json
from farense_tui.engine.processes import EXPORT
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.folder import process_alive
from farense_tui.engine.runs.run_folder import COMMANDS, EVENTS

JOB = "job.json"
LOG = "export.log"
PID = "process.pid"


@dataclass(frozen=True)
class ExportJob:
    folder: Path

    @classmethod
    def of(cls, plan: ExportPlan) -> ExportJob:
        tag = plan.checkpoint if not plan.checkpoint.isdigit() else f"step{int(plan.checkpoint)}"
        return cls(plan.run_dir / "export-jobs" / f"{tag}-{plan.route}")

    @property
    def events(self) -> Path:
        return self.folder / EVENTS

    @property
    def log(self) -> Path:
        return self.folder / LOG


def plan_to_json(plan: ExportPlan) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(plan).items()}


def plan_from_json(data: dict, source: Path) -> ExportPlan:
    """The plan `plan_to_json` wrote; a field missing or unknown names the file."""
    names = {f.name: f.type for f in fields(ExportPlan)}
    if set(data) != set(names):
        raise UserError(
            f"{source}: expected the keys {', '.join(sorted(names))}, "
            f"found {', '.join(sorted(data)) or 'none'}"
        )
    paths = {"run_dir", "adapter", "out"}
    return ExportPlan(**{k: Path(v) if k in paths else v for k, v in data.items()})


def start(plan: ExportPlan) -> ExportJob:
    """Write the job's plan and start its process in its own session (it outlives the caller)."""
    job = ExportJob.of(plan)
    if is_alive(job):
        raise UserError(
            f"an export of {plan.run_dir.name}:{plan.checkpoint} as {plan.route} is already running"
        )
    job.folder.mkdir(parents=True, exist_ok=True)
    for stale in (EVENTS, COMMANDS):
        (job.folder / stale).write_text("")  # a new export starts a new history
    atomic_write_json(job.folder / JOB, plan_to_json(plan))
    start_detached(EXPORT, job.folder, LOG, PID, append=False)
    return job


def is_alive(job: ExportJob | Path) -> bool:
    """Whether the job's process still runs; takes the job folder too, as `follow`'s does."""
    folder = job.folder if isinstance(job, ExportJob) else job
    return process_alive(folder / PID, EXPORT)


def cancel(job: ExportJob) -> None:
    """Ask the process to stop at the route's next step; what it had written is removed."""
    commands.send(job.folder, "cancel")
