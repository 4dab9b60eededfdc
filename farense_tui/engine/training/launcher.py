"""MLX's launcher (`mlx.launch`) as the supervisor starts it: `python -m
farense_tui.engine.training.launcher ARGS`.

Ours only because mlx.launch (mlx 0.32) spins when nobody types into it: it polls its ranks' stdin
pipes, always writable, with a select() that then never waits, and its own stdin, which at end of
file (the supervisor gives it none) is always readable. A whole core went to it, taken from the
ranks on the machine that trains (BENCHMARKS.md). Everything else is mlx.launch's own main(); its
module has no __main__ guard, so it is called here, as its console script does.
"""

from __future__ import annotations

import os
import select
import time

from mlx._distributed_utils import launch

POLL_PAUSE_SECONDS = 0.05  # the most a rank's output waits before it is copied to engine.log


def _select_that_waits(rlist, wlist, xlist, timeout=None):
    """select(), but a poll that only found a writable pipe sleeps as if it had timed out."""
    ready = select.select(rlist, wlist, xlist, timeout)
    if not ready[0] and timeout:
        time.sleep(min(timeout, POLL_PAUSE_SECONDS))
    return ready


def main() -> None:
    launch.select = _select_that_waits
    # A stdin that never has anything to read: its write end stays open in this process.
    quiet, _keep_open = os.pipe()
    os.dup2(quiet, 0)
    launch.main()


if __name__ == "__main__":
    main()
