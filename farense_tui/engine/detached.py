"""Starting the engine's own processes detached: a run's supervisor, a group's queue, an evaluation.

Each is `python -m MODULE FOLDER` in a session of its own, so it outlives the process that started
it and its terminal (an SSH drop, a closed cockpit); it writes to a log in its folder and its pid
file is written at once, so a reader polling liveness never sees a gap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.files import write_pid
from farense_tui.engine.machine.blas import with_fast_blas
from farense_tui.engine.processes import HOME_ENV


def start_detached(
    module: str, folder: Path, log_name: str, pid_name: str, *, append: bool = True
) -> subprocess.Popen:
    log = open(folder / log_name, "ab" if append else "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=with_fast_blas({**os.environ, HOME_ENV: str(paths.home())}),
    )
    log.close()
    write_pid(folder / pid_name, proc.pid)
    # Reap it when it ends, or a long-lived cockpit collects a zombie per process it started.
    threading.Thread(target=proc.wait, name=f"reap {folder.name}", daemon=True).start()
    return proc
