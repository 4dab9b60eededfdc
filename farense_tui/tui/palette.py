"""The command palette's entries (ctrl+p): the modes, the run commands, the screen's own keys."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Iterable

from textual.app import SystemCommand
from textual.screen import Screen

from farense_tui.tui.modes import MODES

if TYPE_CHECKING:
    from farense_tui.tui.app import FarenseApp

RUN_ACTIONS = {"toggle_pause", "stop_run", "save_run", "switch_profile", "quit"}
"""Offered once, by name, whichever screen's keys also reach them."""


def cockpit_commands(app: FarenseApp, screen: Screen) -> Iterable[SystemCommand]:
    for number, mode in enumerate(MODES, 1):
        yield SystemCommand(
            f"Go to {mode.label}",
            f"Show the {mode.label} screen (key {number})",
            partial(app.switch_mode, mode.name),
        )
    yield SystemCommand(
        "Pause or continue the run",
        "Pause the active run, or continue it (p on Training)",
        app.action_toggle_pause,
    )
    yield SystemCommand(
        "Stop and save the run",
        "Checkpoint the active run and stop it (s on Training)",
        app.action_stop_run,
    )
    yield SystemCommand(
        "Save a checkpoint now",
        "Checkpoint the active run and go on (w on Training)",
        app.action_save_run,
    )
    yield SystemCommand(
        "Switch the run's profile",
        "Restart the active run with another profile (m)",
        app.action_switch_profile,
    )
    if app.run_status.run_dir is not None and not app.run_status.alive:
        yield SystemCommand(
            "Resume the active run",
            "Continue it from its last checkpoint",
            partial(app.offer_resume, app.run_status.run_dir),
        )
    seen = set(RUN_ACTIONS)
    for key, active in screen.active_bindings.items():
        binding = active.binding
        name = binding.action.split("(")[0].removeprefix("app.")
        if (
            binding.description
            and binding.show
            and name not in seen
            and not name.startswith("switch_mode")
        ):
            seen.add(name)
            yield SystemCommand(
                binding.description,
                binding.tooltip or f"key {key}",
                partial(app.run_action, binding.action, active.node),
            )
