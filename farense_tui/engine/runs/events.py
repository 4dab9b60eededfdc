"""The event stream of a run: one JSON object per line in runs/<id>/events.jsonl.

The engine process appends; any number of readers (TUI, CLI, tests, a later session) tail the
file. The file is the interface, so a reader can attach to a run started elsewhere.

Every event has "type" and "time" (unix seconds). The types and their fields are the typed records
of event_types.py (state, step, eval, checkpoint, warning, note, error, recovery, finished, export;
an evaluation's events file adds progress and result), one per type: the writer checks each event
against its record, so that module is the schema.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from farense_tui.engine.processes import EXIT_FAILED
from farense_tui.engine.runs.event_types import State, make_event


class EventWriter:
    """Appends events, one flushed line each, so a reader never waits for a buffer."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = open(path, "a", encoding="utf-8")

    def emit(self, type_: str, **fields) -> dict:
        make_event(type_, **fields)  # a field the record does not have fails here, in the engine
        event = {"type": type_, "time": round(time.time(), 3), **fields}
        self._fh.write(json.dumps(event, ensure_ascii=False) + "\n")
        self._fh.flush()
        return event

    def close(self) -> None:
        self._fh.close()


class EventReader:
    """Reads new complete lines since the last call; a half-written last line waits for next
    time."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def read_new(self) -> list[dict]:
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return []
        if size <= self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(size - self.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for line in chunk[: end + 1].splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write; the next ones are whole
        return events


def read_all(path: Path) -> list[dict]:
    return EventReader(path).read_new()


def record_crash(events: EventWriter, what: str, exc: Exception, log_name: str) -> int:
    """A bug, not the user's mistake: the traceback to the process's log, the error in words to the
    events (with a failed state), and the exit code that says so."""
    traceback.print_exc()
    said = f"{what} error: {type(exc).__name__}: {exc}"
    events.emit("error", kind="crash", message=f"{said} (see {log_name})")
    events.emit("state", state=State.FAILED, message=said)
    return EXIT_FAILED
