"""Messages that cross from worker threads to the UI: past-tense events, posted with post_message.

Each is a dataclass (Textual's Message initialises itself in `__post_init__`). The chat ones say
`bubble=False` each (Textual resets it per subclass): they are for the Chat screen alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from farense_tui.engine.chat.service import ChatTarget
    from farense_tui.engine.chat.targets import TargetChoice
    from farense_tui.engine.data.report import DataReport
    from farense_tui.engine.data.token_view import ExampleTokens
    from farense_tui.engine.machine.hardware import Hardware
    from farense_tui.engine.runs.folder import RunInfo
    from farense_tui.engine.runs.history import MetricHistory
    from farense_tui.engine.runs.speed import MeasuredSpeed


# ---- runs -----------------------------------------------------------------------------------
@dataclass
class RunEventsArrived(Message):
    """New complete lines of a run's events.jsonl, in file order (one message per batch)."""

    run_dir: Path
    events: list[dict]


@dataclass
class GroupRunStarted(Message):
    """The queue of the active run's group started its next run, after `previous` ended."""

    previous: Path
    run_dir: Path


@dataclass
class RunLivenessChanged(Message):
    """The run's supervisor process was found alive or gone (posted on a change only)."""

    run_dir: Path
    alive: bool


@dataclass
class RunsListed(Message):
    """A fresh listing of runs/ (newest first)."""

    runs: list[RunInfo]


@dataclass
class CompareRunLoaded(Message):
    """A run marked for comparison had its curves built from its events.jsonl."""

    run_dir: Path
    history: MetricHistory
    size: int
    """The size of its events.jsonl before it was read (read again when it grew)."""


@dataclass
class RunStarted(Message):
    """A run was created and its supervisor started."""

    run_dir: Path


@dataclass
class RunStartFailed(Message):
    """Preparing or starting a run failed; `reason` says why in words."""

    reason: str


# ---- the machine, models and data -----------------------------------------------------------
@dataclass
class HardwareDetected(Message):
    """The machine was measured (RAM, chip, MLX device, BLAS)."""

    hardware: Hardware


@dataclass
class DataChecked(Message):
    """A data folder was checked; `error` is set when the folder itself is unusable."""

    key: tuple
    """What was checked: (data, model, max_seq_length, mask_prompt, batch_size)."""
    report: DataReport | None
    error: str = ""
    auto: tuple[str, str] | None = None
    """(profile, reason) chosen for this model and data's length, if predictable."""
    speed: MeasuredSpeed | None = None
    """This machine's measured training speed for the model (from its earlier runs), if any."""
    tokens: list[ExampleTokens] | None = None
    """The first train example as trained (data/token_view.py); None without a tokenizer."""


@dataclass
class ModelProgressed(Message):
    """A line of progress while the model is prepared (the demo model's download and conversion)."""

    line: str


# ---- chat -----------------------------------------------------------------------------------
@dataclass
class TargetsListed(Message, bubble=False):
    """The base models and run adapters that can be chatted with were listed (`error`: why not)."""

    choices: list[TargetChoice]
    error: str | None = None


@dataclass
class TargetPrepared(Message, bubble=False):
    """The chosen target was built and can be loaded (mlx-lm is imported by now)."""

    key: str
    target: ChatTarget


@dataclass
class ModelLoading(Message, bubble=False):
    """The chat service began loading a model (and adapter)."""

    label: str


@dataclass
class ModelLoaded(Message, bubble=False):
    """The chat service holds the model now, ready to answer."""

    label: str
    has_adapter: bool


@dataclass
class TokenGenerated(Message, bubble=False):
    """One more piece of a reply, on `side` ("base" or "adapter")."""

    side: str
    text: str


@dataclass
class ReplyFinished(Message, bubble=False):
    """A reply ended: by itself, at max tokens (finish_reason "length") or stopped by the user."""

    side: str
    tokens: int
    tps: float
    finish_reason: str | None
    stopped: bool


@dataclass
class ChatFailed(Message, bubble=False):
    """Listing, loading or answering failed; `message` says why in words."""

    message: str


# ---- export and serve -----------------------------------------------------------------------
@dataclass
class ExportProgressed(Message, bubble=False):
    """A step of an export began (loading, writing, checking), in words."""

    line: str


@dataclass
class ExportFinished(Message, bubble=False):
    """An export ended: written and checked (`path`, `check`, `command`), or refused (`error`)."""

    path: Path | None
    check: str = ""
    command: str = ""
    error: str = ""


@dataclass
class ServerStarted(Message, bubble=False):
    """mlx-lm's server answers on loopback with a run's adapter."""

    label: str
    url: str
    curl: str


@dataclass
class ServerEnded(Message, bubble=False):
    """The server stopped, or never started (`error` says why)."""

    error: str = ""


# ---- evaluation ---------------------------------------------------------------------------
@dataclass
class EvalTargetsListed(Message):
    """The adapters that can be evaluated: (label, (run folder, checkpoint)) pairs, newest run
    first."""

    choices: list[tuple[str, tuple[Path, str]]]


@dataclass
class EvalEventsArrived(Message):
    """New lines of an evaluation's events file (progress, state, error, result)."""

    job_folder: Path
    events: list[dict]


@dataclass
class EvalEnded(Message):
    """An evaluation's process is gone: `result` when it finished, else `message` says why not."""

    job_folder: Path
    result: dict | None
    answers: list[dict]
    message: str
