"""The cockpit's modes, in the order of their keys: the one list the App's modes and keys, the mode
bar and the command palette are made from."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from textual.screen import Screen


@dataclass(frozen=True)
class Mode:
    name: str  # Textual's mode name (`app.current_mode`, `switch_mode(name)`)
    label: str  # what the mode bar and the palette call it
    screen: str  # "module:Class" under farense_tui.tui.screens

    def make_screen(self) -> Screen:
        """The mode's screen, its module imported on the mode's first visit: the cockpit opens on
        Config, and importing the others (plotext, the chat and eval engines) before the first
        frame is CPU time the first frame waits for."""
        module, cls = self.screen.split(":")
        return getattr(importlib.import_module(f"farense_tui.tui.screens.{module}"), cls)()


MODES = (
    Mode("config", "Config", "config:ConfigScreen"),
    Mode("training", "Training", "training:TrainingScreen"),
    Mode("monitor", "Monitor", "monitor:MonitorScreen"),
    Mode("chat", "Chat", "chat:ChatScreen"),
    Mode("evaluate", "Evaluate", "evaluate:EvaluateScreen"),
)
"""Key n shows the n-th; F1–F4 the first four (F5 is each screen's "refresh the list")."""


def screen_factories() -> dict[str, Callable[[], Screen]]:
    """What Textual's `App.MODES` takes: each mode's name and the maker of its screen."""
    return {mode.name: mode.make_screen for mode in MODES}
