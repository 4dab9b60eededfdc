"""The engine process: `python -m farense_tui.engine.training.engine_process RUN_DIR` trains one
run.

It runs in its own process because an out-of-memory on Metal can abort the process; the supervisor
that started it survives and decides what happens next. MLX is used from this process's main thread
only. Under `mlx.launch` (runs/launch.py) each rank runs this; rank 0 alone writes the run's files,
and leaves its exit code in engine.exit since the launcher does not pass it on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from farense_tui.engine.files import write_pid
from farense_tui.engine.processes import ERROR_LINE, EXIT_FAILED, NICE, NICE_ENV
from farense_tui.engine.runs.events import EventWriter, record_crash
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.training.ranks import Ranks
from farense_tui.engine.training.trainer import Trainer


class ErrorsToLog(EventWriter):
    """A rank other than 0 writes no events, but prints its errors: its watcher labels them in
    engine.log, where the diagnosis reads why the rank stopped."""

    def emit(self, type_: str, **fields) -> dict:
        event = super().emit(type_, **fields)
        if type_ == "error":
            print(
                f"{ERROR_LINE}{fields.get('kind')}: {fields.get('message')}",
                file=sys.stderr,
                flush=True,
            )
        return event


def main(argv: list[str]) -> int:
    # Training is batch work: a notch below the cockpit and the shell on the same cores, which
    # then answer at once; they use little, so training loses nothing (BENCHMARKS.md).
    text = os.environ.get(NICE_ENV, NICE)
    os.nice(int(text) if text.strip().lstrip("-").isdigit() else int(NICE))
    run = RunFolder(Path(argv[0]))
    ranks = Ranks()
    if not ranks.writer:
        events = ErrorsToLog(Path(os.devnull))  # still checked against the records, like rank 0's
        return Trainer(run.path, run.load_config(), events, ranks).run()
    write_pid(run.engine_pid, os.getpid())
    events = EventWriter(run.events)
    code = EXIT_FAILED
    try:
        code = Trainer(run.path, run.load_config(), events, ranks).run()
        return code
    except (
        Exception
    ) as exc:  # a bug, not the user's mistake: say so in the run, keep the traceback in the log
        return record_crash(events, "engine", exc, run.engine_log.name)
    finally:
        events.close()
        if ranks.size > 1:
            run.engine_exit.write_text(str(code))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
