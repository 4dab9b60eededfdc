"""CPU of a screen switch in the cockpit, in-process and headless: steadier than wall times on a
shared machine, since another process's load does not count.

For each return to a screen (keys 2 3 4 1, after one round of first visits), the UI thread's CPU
time (`time.thread_time`) in `switch_mode` and in the screen's repaints that follow; median per
screen over `ROUNDS` rounds. The checkout measured is the one given (its farense_tui, profiles/
and data/; this checkout's models/), so a before/after comparison is two runs:

    python bench/switch_cpu.py /path/to/other/checkout 120x40
    python bench/switch_cpu.py . 120x40

This omits what a real terminal adds (reading the key, writing the frame): bench/screen_switch.py
measures that, end to end in tmux.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    size = tuple(int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "80x24").split("x"))
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    sys.path.insert(0, str(root))
    home = Path(tempfile.mkdtemp(prefix="farense-cpu-"))
    shutil.copytree(root / "profiles", home / "profiles")
    shutil.copytree(root / "data", home / "data")
    (home / "runs").mkdir()
    (home / "models").symlink_to(REPO / "models")
    os.environ["FARENSE_HOME"] = str(home)
    import textual.app
    import textual.screen

    from farense_tui.tui.app import create_app

    spent = [0.0]

    def timed(method):
        def run(*args, **kwargs):
            start = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - start

        return run

    textual.app.App.switch_mode = timed(textual.app.App.switch_mode)
    textual.screen.Screen._on_timer_update = timed(textual.screen.Screen._on_timer_update)

    async def measure() -> dict[str, list[float]]:
        app = create_app()
        per_screen: dict[str, list[float]] = collections.defaultdict(list)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(2)
            for round_ in range(rounds + 1):
                for key in "2341":
                    spent[0] = 0.0
                    await pilot.press(key)
                    await pilot.pause(0.15)
                    if round_:  # round 0 holds the first visits
                        per_screen[app.current_mode].append(spent[0] * 1000)
        return per_screen

    try:
        per_screen = asyncio.run(measure())
    finally:
        shutil.rmtree(home, ignore_errors=True)
    medians = "  ".join(f"{mode} {statistics.median(ms):.1f}" for mode, ms in per_screen.items())
    print(f"{root} {size[0]}x{size[1]}: {medians}  (median ms of UI-thread CPU per switch)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
