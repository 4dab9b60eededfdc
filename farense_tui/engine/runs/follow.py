"""Following a run: the one loop that tails events.jsonl and watches the supervisor process.

Every front end follows a run through `follow`: the cockpit's watcher worker turns the callbacks
into messages, `farense-tui train` prints them. The first read returns the whole file, so a
follower that attaches late sees the run's history at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from farense_tui.engine.runs import folder
from farense_tui.engine.runs.events import EventReader
from farense_tui.engine.runs.run_folder import EVENTS

POLL_LIVE = 0.2  # seconds between reads while the run's process is alive
POLL_IDLE = 1.0  # ... and while it is not (another front end may resume it)
LIVENESS_EVERY = 1.0  # seconds between process checks (psutil)


def follow(
    run_dir: Path,
    on_events: Callable[[list[dict]], object],
    cancelled: Callable[[], bool],
    *,
    on_liveness: Callable[[bool], object] | None = None,
    is_alive: Callable[[Path], bool] | None = None,
    poll: tuple[float, float] = (POLL_LIVE, POLL_IDLE),
    liveness_every: float = LIVENESS_EVERY,
    until_ended: bool = False,
) -> None:
    """Call `on_events` with each batch of new events and `on_liveness` on each change of life.

    Returns when `cancelled()` is true, or with `until_ended` once the process is gone and the
    events it wrote before going have been passed on.
    """
    is_alive = is_alive or folder.is_alive  # looked up now, so a test can stand in for the process
    reader = EventReader(run_dir / EVENTS)
    alive: bool | None = None
    next_check = 0.0
    while not cancelled():
        now = time.monotonic()
        seen_alive = alive
        if now >= next_check:
            # Looked at before reading, so events written before the process ended are in this read.
            seen_alive = is_alive(run_dir)
            next_check = now + liveness_every
        # Only well-formed events: a foreign or damaged line must not reach a front end.
        events = [e for e in reader.read_new() if isinstance(e, dict) and "type" in e]
        if events:
            on_events(events)
        if seen_alive != alive:
            alive = seen_alive
            if on_liveness is not None:
                on_liveness(bool(alive))
        if until_ended and alive is False:
            return
        deadline = time.monotonic() + (poll[0] if alive else poll[1])
        while not cancelled() and time.monotonic() < deadline:
            time.sleep(min(0.05, poll[0]))
