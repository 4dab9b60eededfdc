"""Runs seen from outside the engine: create, start, command, inspect and list runs/<id>/.

Everything goes through files in the run folder (run_folder.py: config.toml, commands.jsonl,
events.jsonl, training_state.json, supervisor.pid), so the TUI, the CLI, a test or a later session
all attach to a run the same way, whoever started it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths, processes
from farense_tui.engine.detached import start_detached
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.downshift import downshift, settings
from farense_tui.engine.profiles.profile import Profile
from farense_tui.engine.runs import checkpoints as ckpt
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter, read_all
from farense_tui.engine.runs.run_folder import CONFIG, RunFolder
from farense_tui.engine.runs.status import RunStatus
from farense_tui.engine.runs.training_state import TrainingState

TAIL_BYTES = 256 * 1024


@dataclass
class RunInfo:
    run_id: str
    path: Path
    status: str  # a State's value: "dead" when it said running but no process is left
    message: str
    step: int
    total_steps: int
    loss: float | None
    best_val_loss: float | None
    created: float
    model: str
    profile: str
    alive: bool
    recoverable: bool
    group: str = ""  # the group queued with it, one run per training seed (runs/group.py)
    seed: int = 0  # its training seed
    parent: str = ""  # RUN:CHECKPOINT it builds on (`train --from`)

    @property
    def checkpoint_step(self) -> int:
        found = ckpt.latest_checkpoint(self.path)
        return found[1].step if found else 0


def new_run_id(model: str) -> str:
    stem = Path(model.rstrip("/")).name.lower().replace("_", "-")[:24] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}"


def create_run(cfg: RunConfig, runs_root: Path | None = None) -> Path:
    root = runs_root or paths.runs_dir()
    cfg.run_id = cfg.run_id or new_run_id(cfg.model)
    if "/" in cfg.run_id or os.sep in cfg.run_id or cfg.run_id in (".", ".."):
        raise UserError(
            f"run name {cfg.run_id!r}: a run is one folder in {root}, so no '/' and not '.' or '..'"
        )
    run = RunFolder(root / cfg.run_id)
    suffix = 1
    while run.path.exists():
        suffix += 1
        run = RunFolder(root / f"{cfg.run_id}-{suffix}")
    cfg.run_id = run.name
    cfg.created = cfg.created or time.time()
    run.checkpoints.mkdir(parents=True)
    cfg.save(run.config)
    run.events.touch()
    run.commands.touch()
    return run.path


def start(run_dir: Path) -> subprocess.Popen:
    """Start the supervisor in its own session, so the run outlives this process and terminal."""
    if is_alive(run_dir):
        raise UserError(f"run {run_dir.name} is already running")
    run = RunFolder(run_dir)
    return start_detached(
        processes.SUPERVISOR, run_dir, run.engine_log.name, run.supervisor_pid.name
    )


def is_alive(run_dir: Path) -> bool:
    """Its supervisor is running, or an engine it started still is (a killed supervisor's engine
    saves and stops at its next step; until then a second one must not be started)."""
    run = RunFolder(run_dir)
    return process_alive(run.supervisor_pid, processes.SUPERVISOR) or process_alive(
        run.engine_pid, processes.ENGINE
    )


def process_alive(pid_file: Path, module: str) -> bool:
    """Whether the process `pid_file` names is alive and is `python -m module`."""
    import psutil  # here: listing runs is on the cockpit's start-up path, this check is not

    try:
        proc = psutil.Process(int(pid_file.read_text()))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # Just after fork the child still shows our cmdline; its start time tells it is the same
        # one.
        return (
            module in " ".join(proc.cmdline())
            or abs(proc.create_time() - pid_file.stat().st_mtime) < 5
        )
    except (OSError, ValueError, psutil.Error):
        return False


def tail_events(run_dir: Path, nbytes: int = TAIL_BYTES) -> list[dict]:
    path = RunFolder(run_dir).events
    try:
        with open(path, "rb") as fh:
            size = os.path.getsize(path)
            fh.seek(max(0, size - nbytes))
            chunk = fh.read()
    except OSError:
        return []
    lines = chunk.splitlines()
    if size > nbytes:
        lines = lines[1:]  # the first line may be cut
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _info_files(run: RunFolder) -> tuple[Path, ...]:
    """What `info` reads from a run's folder: while none of them changes, neither does its
    answer."""
    return run.config, run.events, run.training_state, run.supervisor_pid, run.engine_pid


_known: dict[Path, tuple[tuple, RunInfo]] = {}


def info(run_dir: Path) -> RunInfo:
    """A run's status from its config and the fold of its latest events (the same RunStatus the
    cockpit and `train` keep), with training_state.json for what the events' tail no longer holds.

    Kept per run while its files stay as they were and no process of it was alive: the cockpit
    lists runs on each visit to Training and every few seconds there, and would otherwise fold
    each run's events again each time, in a thread beside the UI's (BENCHMARKS.md).
    """
    stamp = tuple(_stamp(path) for path in _info_files(RunFolder(run_dir)))
    known = _known.get(run_dir)
    if known is not None and known[0] == stamp and not known[1].alive:
        return known[1]
    found = _read_info(run_dir)
    _known[run_dir] = stamp, found
    return found


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read_info(run_dir: Path) -> RunInfo:
    run = RunFolder(run_dir)
    cfg = run.load_config()
    status = RunStatus(run_dir=run_dir, model=cfg.model, profile=cfg.profile.name)
    status.add_events(tail_events(run_dir))
    status.alive = is_alive(run_dir)
    saved = TrainingState.load(run_dir) or TrainingState()
    stepped = status.loss is not None or status.step > 0
    return RunInfo(
        run_id=run_dir.name,
        path=run_dir,
        status=str(status.status),
        message=status.message,
        step=status.step if stepped else saved.step,
        total_steps=status.total_steps or saved.total_steps,
        loss=status.loss,
        best_val_loss=status.best_val_loss
        if status.best_val_loss is not None
        else saved.best_val_loss,
        created=cfg.created or run.config.stat().st_ctime,
        model=cfg.model,
        profile=cfg.profile.name,
        alive=bool(status.alive),
        recoverable=status.status == State.DEAD or status.recoverable,
        group=cfg.group,
        seed=cfg.profile.seed,
        parent=cfg.parent,
    )


def full_status(run_dir: Path) -> RunStatus:
    """The fold of every event of a run (not only the tail `info` reads): for its cost and
    history."""
    run = RunFolder(run_dir)
    cfg = run.load_config()
    status = RunStatus(run_dir=run_dir, model=cfg.model, profile=cfg.profile.name)
    status.add_events(read_all(run.events))
    status.alive = is_alive(run_dir)
    return status


def list_runs(runs_root: Path | None = None) -> list[RunInfo]:
    root = runs_root or paths.runs_dir()
    found = []
    for config in sorted(root.glob(f"*/{CONFIG}"), reverse=True):
        try:
            found.append(info(config.parent))
        except (UserError, KeyError, OSError):
            continue  # a half-created or foreign folder; not a run we can describe
    # Newest first by creation: run ids start with the time, but a group's runs carry its chosen
    # name.
    return sorted(found, key=lambda r: r.created, reverse=True)


def find_run(run: str) -> Path:
    path = Path(run)
    if RunFolder(path).config.exists():
        return path
    candidate = paths.runs_dir() / run
    # A run id names a folder in runs/; `../x` does not reach out of it (a path, given as one, may).
    if (
        candidate.resolve().parent == paths.runs_dir().resolve()
        and RunFolder(candidate).config.exists()
    ):
        return candidate
    matches = [r.path for r in list_runs() if r.run_id.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(r.run_id for r in list_runs()[:8]) or "none yet"
    raise UserError(f"no run {run!r} in {paths.runs_dir()} (recent: {known})")


def resume(
    run_dir: Path, profile: Profile | None = None, smaller: bool = False
) -> subprocess.Popen:
    """Continue a stopped, failed or dead run from its last checkpoint, optionally with other
    settings."""
    from farense_tui.engine.profiles.downshift import adopt
    from farense_tui.engine.profiles.profile import available_profiles

    run = RunFolder(run_dir)
    cfg = run.load_config()
    before = settings(cfg.profile)
    if profile is not None:
        cfg.profile, change = adopt(cfg.profile, profile), f"profile {profile.name}"
    elif smaller:
        shifted = downshift(cfg.profile, available_profiles())
        if shifted is None:
            raise UserError("no smaller setting is left for this run")
        cfg.profile, change = shifted
    found = ckpt.latest_checkpoint(run_dir)
    if found is not None:  # refused here, before anything starts or is rewritten
        ckpt.check_resumable(run_dir, cfg, found[1])
    if settings(cfg.profile) != before:
        cfg.save(run.config)
        writer = EventWriter(run.events)
        writer.emit(
            "recovery",
            message=f"resumed by hand with {change}",
            **{"from": before},
            to=settings(cfg.profile),
            resume_step=found[1].step if found else 0,
        )
        writer.close()
    return start(run_dir)
