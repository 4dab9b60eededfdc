"""Messages that cross from worker threads to the UI: past-tense events, posted with post_message."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from farense_tui.engine.data.report import DataReport
from farense_tui.engine.machine.hardware import Hardware


class RunEventsArrived(Message):
    """New complete lines of a run's events.jsonl, in file order (one message per batch)."""

    def __init__(self, run_dir: Path, events: list[dict]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.events = events


class RunLivenessChanged(Message):
    """The run's supervisor process was found alive or gone (posted on a change only)."""

    def __init__(self, run_dir: Path, alive: bool) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.alive = alive


class HardwareDetected(Message):
    """The machine was measured (RAM, chip, MLX device, BLAS)."""

    def __init__(self, hardware: Hardware) -> None:
        super().__init__()
        self.hardware = hardware


class DataChecked(Message):
    """A data folder was checked; `error` is set when the folder itself is unusable."""

    def __init__(self, key: tuple, report: DataReport | None, error: str = "",
                 auto: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.key = key  # what was checked: (data, model, max_seq_length, mask_prompt, batch_size)
        self.report = report
        self.error = error
        self.auto = auto  # (profile, reason) chosen for this model and data's length, if predictable


class ModelProgressed(Message):
    """A line of progress while the model is prepared (the demo model's download and conversion)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class RunStarted(Message):
    """A run was created and its supervisor started."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir


class RunStartFailed(Message):
    """Preparing or starting a run failed; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RunsListed(Message):
    """A fresh listing of runs/ (engine RunInfo objects, newest first)."""

    def __init__(self, runs: list) -> None:
        super().__init__()
        self.runs = runs
