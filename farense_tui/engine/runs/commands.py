"""Commands to a running engine: pause, resume, stop (and save), save (now), switch (profile).

Callers append one JSON line to runs/<id>/commands.jsonl; the engine reads new lines before each
step. The engine remembers how far it has read (commands.offset), so an engine restarted by the
supervisor never replays a command an earlier one already carried out.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from farense_tui.engine.files import atomic_write_json, read_json
from farense_tui.engine.runs.events import EventReader
from farense_tui.engine.runs.run_folder import COMMANDS


def send(run_dir: Path, cmd: str, **fields) -> None:
    """Append one command; O_APPEND keeps concurrent senders' lines whole."""
    line = json.dumps({"cmd": cmd, "time": time.time(), **fields}) + "\n"
    fd = os.open(run_dir / COMMANDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class CommandInbox:
    """The engine's side: the commands sent since it last looked."""

    def __init__(self, run_dir: Path):
        self.reader = EventReader(run_dir / COMMANDS)
        self.offset_file = run_dir / "commands.offset"
        saved = read_json(self.offset_file)
        self.reader.offset = saved["offset"] if saved else 0

    def take(self) -> list[dict]:
        new = self.reader.read_new()
        if new:
            atomic_write_json(self.offset_file, {"offset": self.reader.offset})
        return new
