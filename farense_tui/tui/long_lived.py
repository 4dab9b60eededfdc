"""Keeping the garbage collector's full walks out of screen switches.

What start-up, a mode's first visit, a tokenizer or a chat model load make lives as long as the
App, and a full collection walking it all paused a switch by 30-190 ms. So the CLI starts the
cockpit with the collector off (`collect_later`), and after each such load `keep_long_lived`
freezes what exists then: the collector no longer walks it. Nothing is collected first (that
walk is the pause itself), so what garbage a load left stays, once per load. Full collections
run ten times less often too (of what is not frozen): their walk had no reason to be frequent.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the CLI before Textual, to start the collector off early
    from textual.app import App
    from textual.timer import Timer

SETTLE = 0.5  # s after the last load's request: the load's own objects are made by then
_pending: Timer | None = None


def collect_later() -> None:
    """No collection until the first `keep_long_lived`: start-up makes no garbage worth a walk,
    and collecting through the cockpit's imports and first compose cost ~8% of that time."""
    gc.disable()


def keep_long_lived(app: App) -> None:
    """Soon (once the load settles), freeze what exists and turn the collector on."""
    global _pending
    if _pending is not None:
        _pending.stop()
    _pending = app.set_timer(SETTLE, _freeze)


def _freeze() -> None:
    global _pending
    _pending = None
    gc.freeze()
    gc.set_threshold(700, 10, 100)  # full collections after 100 middle ones, not 10
    gc.enable()
