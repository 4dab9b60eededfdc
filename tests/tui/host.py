"""A host App that shows one screen alone: the members of the cockpit's App (tui/cockpit.py)
with nothing active, so a test sets only what its screen is about."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual.app import App
from textual.signal import Signal

from farense_tui.engine.machine.hardware import Hardware
from farense_tui.engine.runs.history import MetricHistory
from farense_tui.engine.runs.overlay import Comparison
from farense_tui.engine.runs.status import RunStatus


class CockpitHost(App):
    def __init__(self) -> None:
        super().__init__()
        self.run_status = RunStatus()
        self.history = MetricHistory()
        self.comparison = Comparison()
        self.hardware: Hardware | None = None
        self.detect_hardware = False
        self.price_per_hour: float | None = None
        self.run_changed: Signal[RunStatus] = Signal(self, "run-changed")
        self.hardware_changed: Signal[Hardware] = Signal(self, "hardware-changed")

    def attach(self, run_dir: Path) -> None:
        raise AssertionError(f"a host shows one screen; it attaches to no run ({run_dir})")

    def toggle_compare(self, run_dir: Path) -> bool:
        return self.comparison.toggle(run_dir)

    def refresh_compared(self) -> None:
        """A host's compared runs are made by its test, not read from a folder."""

    def offer_resume(self, run_dir: Path) -> None:
        raise AssertionError(f"a host shows one screen; it resumes no run ({run_dir})")

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        self.call_after_refresh(callback)
