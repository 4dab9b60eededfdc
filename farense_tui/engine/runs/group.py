"""Groups of runs: one run per training seed, the same settings otherwise, trained one after another
by the group's queue (a detached process, runs/queue.py), so `eval GROUP` can show the spread
across training seeds.

runs/<group>.group/ holds group.json (the runs in order, their seeds), and the queue's queue.pid,
queue.log, events.jsonl (what the queue did) and commands.jsonl (stop). Each run is an ordinary
run folder, runs/<group>-seed<N>/, whose config.toml names its group and its profile its seed.
Stopping the running run (Ctrl-C, s in the cockpit) stops the queue there; `resume` continues it.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.detached import start_detached
from farense_tui.engine.errors import UserError
from farense_tui.engine.files import atomic_write_json, read_json
from farense_tui.engine.processes import QUEUE
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter
from farense_tui.engine.runs.folder import create_run, info, is_alive, process_alive
from farense_tui.engine.runs.run_folder import RunFolder

SUFFIX = ".group"


@dataclass(frozen=True)
class Group:
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name.removesuffix(SUFFIX)

    @property
    def run_dirs(self) -> list[Path]:
        """The group's runs in the order the queue trains them."""
        saved = read_json(self.folder / "group.json") or {}
        return [self.folder.parent / run_id for run_id in saved.get("runs", [])]

    @property
    def seeds(self) -> list[int]:
        return list((read_json(self.folder / "group.json") or {}).get("seeds", []))

    @property
    def queue_alive(self) -> bool:
        return process_alive(self.folder / "queue.pid", QUEUE)

    def states(self) -> dict[str, str]:
        """Run id -> its status, in queue order."""
        return {d.name: info(d).status for d in self.run_dirs}


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(
            f"--seeds {text!r}: expected different whole numbers from 0, separated by commas, e.g. "
            f"0,1,2"
        )
    return seeds


def create_group(
    cfg: RunConfig, seeds: list[int], name: str = "", runs_root: Path | None = None
) -> Group:
    """A run folder per seed (state queued) and the group's folder listing them; nothing starts."""
    root = runs_root or paths.runs_dir()
    name = name or cfg.run_id
    if not name or "/" in name or os.sep in name or name in (".", ".."):
        raise UserError(
            f"group name {name!r}: a group is named like a run folder, so no '/' and not '.' or "
            f"'..'"
        )
    folder, suffix = root / f"{name}{SUFFIX}", 1
    while folder.exists():
        suffix += 1
        folder = root / f"{name}-{suffix}{SUFFIX}"
    folder.mkdir(parents=True)
    group = Group(folder)
    run_dirs = []
    for n, seed in enumerate(seeds, start=1):
        member = RunConfig(
            **{
                **vars(cfg),
                "profile": cfg.profile.replace(seed=seed),
                "run_id": f"{group.name}-seed{seed}",
                "group": group.name,
            }
        )
        run_dir = create_run(member, root)
        writer = EventWriter(RunFolder(run_dir).events)
        writer.emit(
            "state",
            state=State.QUEUED.value,
            message=f"run {n}/{len(seeds)} of group {group.name}, training seed {seed}",
        )
        writer.close()
        run_dirs.append(run_dir)
    atomic_write_json(
        folder / "group.json",
        {
            "group": group.name,
            "runs": [d.name for d in run_dirs],
            "seeds": seeds,
            "created": time.time(),
        },
    )
    return group


def start_queue(group: Group) -> subprocess.Popen:
    """Start the group's queue in its own session, so it outlives this process and terminal.

    Every run it will take up (all but the finished and the running) is marked queued first, so
    a follower that looks at once sees what the queue is about to do."""
    if group.queue_alive:
        raise UserError(f"the queue of group {group.name} is already running")
    for run_dir in group.run_dirs:
        if info(run_dir).status not in (State.FINISHED, State.QUEUED) and not is_alive(run_dir):
            writer = EventWriter(RunFolder(run_dir).events)
            writer.emit(
                "state",
                state=State.QUEUED.value,
                message=f"queued again: group {group.name} continues",
            )
            writer.close()
    return start_detached(QUEUE, group.folder, "queue.log", "queue.pid")


def stop(group: Group, current: Path | None) -> None:
    """Stop the group where it is: the queue passes the stop to the run it trains and starts no
    other; with no queue left, the stop goes to `current` itself."""
    if group.queue_alive:
        commands.send(group.folder, "stop")
    elif current is not None:
        commands.send(current, "stop")


def running_run(group: Group) -> Path | None:
    """The run of the group training now (the queue trains one at a time), or None."""
    return next((run_dir for run_dir in group.run_dirs if is_alive(run_dir)), None)


def group_of(run_dir: Path) -> Group | None:
    """The group a run was queued in (its config names it), or None."""
    try:
        name = RunFolder(run_dir).load_config().group
    except (UserError, KeyError):  # a damaged config: not known to be in a group
        return None
    return find_group(str(run_dir.parent / f"{name}{SUFFIX}")) if name else None


def find_group(name: str) -> Group | None:
    """The group `name` (or the folder of one), or None when there is no such group."""
    path = Path(name)
    for folder in (path, paths.runs_dir() / f"{name}{SUFFIX}"):
        if folder.name.endswith(SUFFIX) and (folder / "group.json").is_file():
            return Group(folder)
    return None


def list_groups(runs_root: Path | None = None) -> list[Group]:
    root = runs_root or paths.runs_dir()
    return [Group(p.parent) for p in sorted(root.glob(f"*{SUFFIX}/group.json"), reverse=True)]
