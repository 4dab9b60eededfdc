"""The export process: `python -m farense_tui.engine.export.process JOB_FOLDER`.

Runs the plan in job.json with `run_export` (the CLI's export, in-process there), each step it
begins written as a `progress` event, the result as an `export` event. A cancel command stops it
when the route begins its next step: the staged folder is removed, nothing is left at the output.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.job import JOB, LOG, PID, plan_from_json
from farense_tui.engine.export.run import run_export
from farense_tui.engine.files import read_json
from farense_tui.engine.processes import EXIT_FAILED
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.events import EventWriter, read_all, record_crash
from farense_tui.engine.runs.run_folder import COMMANDS, EVENTS


class Cancelled(BaseException):
    """Not an Exception: a route's own `except Exception` must not take it for a failure."""


def export(folder: Path, events: EventWriter) -> None:
    data = read_json(folder / JOB)
    if data is None:
        raise UserError(f"{folder / JOB}: missing or not JSON")
    plan = plan_from_json(data, folder / JOB)

    def step(line: str) -> None:
        if any(c.get("cmd") == "cancel" for c in read_all(folder / COMMANDS)):
            raise Cancelled
        events.emit("progress", phase="export", message=line)

    step(f"exporting {plan.run_dir.name}:{plan.checkpoint} as {plan.route} → {plan.out}")
    result = run_export(plan, progress=step)
    events.emit(
        "export",
        route=plan.route,
        checkpoint=plan.checkpoint,
        path=str(result.path),
        base_model=plan.base_model,
        check=result.check,
        command=result.command,
    )
    events.emit("state", state=State.FINISHED, message=f"exported to {result.path}")


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    (folder / PID).write_text(str(os.getpid()))
    events = EventWriter(folder / EVENTS)
    try:
        export(folder, events)
        return 0
    except Cancelled:
        events.emit("state", state=State.STOPPED, message="export cancelled; nothing was written")
        return 0
    except UserError as exc:
        events.emit("error", kind="data", message=str(exc))
        events.emit("state", state=State.FAILED, message=str(exc))
        return EXIT_FAILED
    except Exception as exc:  # a bug, not the user's mistake: say so, keep the traceback in the log
        return record_crash(events, "export", exc, LOG)
    finally:
        events.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
