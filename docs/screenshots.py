"""Take the README's screenshots (docs/*.svg) from the real cockpit over this checkout's runs.

    .venv/bin/python docs/screenshots.py [--size 100x30] [--ask "Quem foi Hassan Nader?"]

The App runs headless (Textual's `run_test`) with FARENSE_HOME at this checkout, so it shows the
runs in runs/ as a user's cockpit would: the newest run on Training and Monitor, its saved
evaluation on Evaluate, and on Chat a real answer from its adapter to `--ask`. Train and evaluate
a run first (README, "Judge it"); nothing shown here is made up for the picture.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
os.environ.setdefault("FARENSE_HOME", str(DOCS.parent))

from textual.widgets import DataTable, Input, Select  # noqa: E402

from farense_tui.tui.app import FarenseApp  # noqa: E402


async def _until(pilot, ready, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: gave up waiting for {what} after {timeout:.0f} s")
        await pilot.pause(0.1)
    await pilot.pause(0.5)  # the last frame drawn


async def shoot(size: tuple[int, int], question: str) -> list[Path]:
    app = FarenseApp()
    saved = []

    def save(name: str) -> None:
        saved.append(Path(app.save_screenshot(filename=f"{name}.svg", path=str(DOCS))))

    async with app.run_test(size=size) as pilot:
        await _until(
            pilot, lambda: app.hardware is not None and app.run_status.run_id, "the newest run"
        )
        save("config")
        await pilot.press("2")
        await _until(pilot, lambda: app.history.train_loss, "the run's history")
        save("training")
        await pilot.press("3")
        await pilot.pause(1.0)
        save("monitor")
        await pilot.press("5")
        screen = app.screen
        await _until(pilot, lambda: screen.targets, "the adapters to evaluate")
        target = next(
            (key for key in screen.targets if key.endswith(":best")), next(iter(screen.targets))
        )
        screen.query_one("#target", Select).value = target
        await _until(
            pilot, lambda: screen.query_one("#metrics", DataTable).row_count, "a saved evaluation"
        )
        save("evaluate")
        await pilot.press("4")
        screen = app.screen
        await _until(pilot, lambda: screen.loaded, "the chat model")
        prompt = screen.query_one("#prompt", Input)
        prompt.value = question
        prompt.focus()
        await pilot.press("enter")
        await _until(
            pilot, lambda: len(screen.messages) > 1 and not screen.generating, "the answer"
        )
        save("chat")
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100x30", help="columns x rows (default 100x30)")
    parser.add_argument(
        "--ask", default="Quem foi Hassan Nader?", help="the question asked on Chat"
    )
    args = parser.parse_args()
    columns, rows = (int(n) for n in args.size.lower().split("x"))
    for path in asyncio.run(shoot((columns, rows), args.ask)):
        print(path)


if __name__ == "__main__":
    main()
