"""The App as screens and dialogs see it: the state they show and the services they drive.

`FarenseApp` is the one the cockpit runs; a test shows one screen in a small host App that has
the same members. Screens read it as `self.cockpit` (CockpitScreen), widgets and dialogs as
`cockpit(self)`: typed, so a renamed member is a type error rather than a silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, cast

if TYPE_CHECKING:  # types only: importing them here would load the engine before the first frame
    from textual.message_pump import MessagePump
    from textual.signal import Signal

    from farense_tui.engine.machine.hardware import Hardware
    from farense_tui.engine.runs.history import MetricHistory
    from farense_tui.engine.runs.overlay import Comparison
    from farense_tui.engine.runs.status import RunStatus
    from farense_tui.tui.services.chat_session import ChatSession
    from farense_tui.tui.services.serve_session import ServeSession


class CockpitApp(Protocol):
    run_status: RunStatus  # the active run, folded from its events
    history: MetricHistory  # the active run's curves
    comparison: Comparison  # the runs marked for the Monitor's overlay
    hardware: Hardware | None  # None until detected, just after the first frame
    detect_hardware: bool  # False in tests that keep the machine out
    price_per_hour: float | None  # None when no price was given
    run_changed: Signal[RunStatus]
    hardware_changed: Signal[Hardware]
    chat: ChatSession
    serving: ServeSession

    def attach(self, run_dir: Path) -> None: ...
    def toggle_compare(self, run_dir: Path) -> bool: ...
    def refresh_compared(self) -> None: ...
    def offer_resume(self, run_dir: Path) -> None: ...
    def after_first_frame(self, callback: Callable[[], object]) -> None: ...


def cockpit(node: MessagePump) -> CockpitApp:
    """The App that shows `node`, as the cockpit."""
    return cast("CockpitApp", node.app)
