"""A group's queue: `python -m farense_tui.engine.runs.queue GROUP_FOLDER`.

Started in its own session, like a run's supervisor, so it outlives the terminal that queued the
group. One machine trains one run at a time: it starts each run of the group (its supervisor, as
every run is started) and waits for it to end before the next. A run that finishes or fails lets
the next one start; a run that is stopped (Ctrl-C, s in the cockpit, or a stop sent to the group)
stops the queue there, and the runs not started yet are marked stopped. Started again
(`train --resume GROUP`), it resumes each run that did not finish from its last checkpoint.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.files import write_pid
from farense_tui.engine.runs import commands, folder
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter, record_crash
from farense_tui.engine.runs.group import Group
from farense_tui.engine.runs.run_folder import EVENTS, RunFolder

POLL = 0.5  # seconds between looks at the running run and the group's commands


def run_queue(group: Group, events: EventWriter) -> int:
    inbox = commands.CommandInbox(group.folder)
    run_dirs = group.run_dirs
    for n, run_dir in enumerate(run_dirs, start=1):
        if _stop_asked(inbox):
            return _stopped(events, group, f"stop asked before run {n}/{len(run_dirs)} started")
        status = folder.info(run_dir).status
        if status == State.FINISHED:
            continue
        if not folder.is_alive(run_dir):
            try:
                folder.resume(
                    run_dir
                )  # from its last checkpoint when it has one (the group resumed)
            except UserError as exc:
                events.emit("error", kind="queue", message=f"{run_dir.name} could not start: {exc}")
                continue
        events.emit(
            "state", state=State.TRAINING.value, message=f"run {n}/{len(run_dirs)}: {run_dir.name}"
        )
        stopping = False
        while folder.is_alive(run_dir):
            if not stopping and _stop_asked(inbox):
                commands.send(run_dir, "stop")
                stopping = True
            time.sleep(POLL)
        status = folder.info(run_dir).status
        if stopping or status == State.STOPPED:
            return _stopped(events, group, f"{run_dir.name} stopped")
        events.emit("note", message=f"{run_dir.name} ended: {status}")
    events.emit(
        "state",
        state=State.FINISHED.value,
        message=f"every run of group {group.name} ended: "
        + ", ".join(f"{k} {v}" for k, v in group.states().items()),
    )
    return 0


def _stop_asked(inbox: commands.CommandInbox) -> bool:
    return any(c.get("cmd") == "stop" for c in inbox.take())


def _stopped(events: EventWriter, group: Group, why: str) -> int:
    """Stop here: the runs that never started say so, and how to go on."""
    how = f"farense-tui train --resume {group.name} continues the group"
    for run_dir in group.run_dirs:
        if folder.info(run_dir).status in (State.QUEUED, State.CREATED):
            writer = EventWriter(RunFolder(run_dir).events)
            writer.emit(
                "state",
                state=State.STOPPED.value,
                message=f"not started: the group's queue stopped; {how}",
            )
            writer.close()
    events.emit("state", state=State.STOPPED.value, message=f"{why}; the queue stopped; {how}")
    return 0


def main(argv: list[str]) -> int:
    group = Group(Path(argv[0]))
    write_pid(group.folder / "queue.pid", os.getpid())
    events = EventWriter(group.folder / EVENTS)
    try:
        return run_queue(group, events)
    except Exception as exc:  # a bug, not the user's mistake: say so, keep the traceback in the log
        return record_crash(events, "queue", exc, "queue.log")
    finally:
        events.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
