"""What is known about a run, folded from its events, and those events in words.

One fold serves every reader: the cockpit's App owns one `RunStatus`, feeds it every batch of events
the watcher reads and publishes it to the header line and the Training screen; the headless
`farense-tui train` prints `progress_line` from one and `describe_event` for its log. Every figure
comes from a real event of the run; nothing is estimated except the ETA, which is the recent pace
applied to the steps left.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine.profiles.profile import FIELDS, MEMORY_FIELDS
from farense_tui.engine.runs.cost import RunCost
from farense_tui.engine.runs.event_types import (
    ENDED,
    CheckpointEvent,
    ErrorEvent,
    EvalEvent,
    FinishedEvent,
    RecoveryEvent,
    State,
    StateEvent,
    StepEvent,
    parse_event,
)

LOGGED = (
    "state",
    "eval",
    "checkpoint",
    "warning",
    "note",
    "error",
    "recovery",
    "finished",
    "export",
)

clock = time.time
"""The wall clock used for elapsed time; tests replace it for stable screenshots."""


@dataclass
class RunStatus:
    """The latest figures of one run; `run_dir` None means no run is attached."""

    run_dir: Path | None = None
    model: str = ""
    profile: str = ""
    placement: str = ""  # a data-parallel run's ranks in words (launch.describe_ranks); "" for one
    parent: str = ""  # RUN:CHECKPOINT the run builds on (`train --from`); "" for none
    budget_gb: float | None = None
    log_every: int = 0  # step events logged every N steps (the profile's log_every); 0 = none
    state: str = ""
    message: str = ""
    alive: bool | None = None  # None until the watcher has looked
    recoverable: bool = False
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_sec: float | None = None
    mem_peak_gb: float | None = None
    ranks: list | None = (
        None  # data-parallel runs: each rank's tokens/s and memory at the last step
    )
    segment_start: float | None = None  # when the engine (re)started loading
    paused_for: float = 0.0  # seconds paused since segment_start, not counted as elapsed
    paused_since: float | None = None
    last_event_time: float | None = None
    last_recovery: RecoveryEvent | None = None
    last_error: ErrorEvent | None = None
    checkpoint_step: int = 0
    events_seen: int = 0
    notable_count: int = 0  # notable events so far (the log keeps the last 500)
    log: deque = field(default_factory=lambda: deque(maxlen=500))  # notable events, for the log
    pace: deque = field(default_factory=lambda: deque(maxlen=30))  # (time, step) of recent steps
    cost: RunCost = field(default_factory=RunCost)

    @property
    def run_id(self) -> str:
        return self.run_dir.name if self.run_dir else ""

    @property
    def status(self) -> str:
        """The state, or "dead" when it says running but its process is gone."""
        if (
            self.alive is False
            and self.state not in ENDED
            and self.state not in ("", State.CREATED, State.QUEUED)
        ):
            return State.DEAD
        return self.state or (State.CREATED if self.run_dir else "")

    @property
    def needs_choice(self) -> bool:
        """Dead, or failed in a way a smaller resume may fix: the user must choose what to do."""
        return self.alive is False and (
            self.status == State.DEAD or (self.status == State.FAILED and self.recoverable)
        )

    @property
    def elapsed(self) -> float | None:
        if self.segment_start is None:
            return None
        end = clock() if self.alive and self.status not in ENDED else self.last_event_time
        end = end or self.segment_start
        paused = self.paused_for + (
            max(0.0, end - self.paused_since) if self.paused_since is not None else 0.0
        )
        return max(0.0, end - self.segment_start - paused)

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace of the recent steps (evaluations and checkpoints included)."""
        if len(self.pace) < 2 or not self.total_steps or self.status in ENDED:
            return None
        (t0, s0), (t1, s1) = self.pace[0], self.pace[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return (self.total_steps - self.step) * (t1 - t0) / (s1 - s0)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def add_events(self, events: list[dict]) -> list[dict]:
        """Fold a batch in file order; returns the notable events (those the log shows)."""
        notable = []
        for event in events:
            record = parse_event(event)
            if record is None:
                continue  # a type this version does not know, or a damaged line
            previous_state = self.state
            self.events_seen += 1
            self.last_event_time = record.time or self.last_event_time
            self.cost.add(record)
            handler = self._HANDLERS.get(type(record))
            if handler is not None:
                handler(self, record)
            if self._notable(event, previous_state):
                notable.append(event)
                self.log.append(event)
                self.notable_count += 1
        return notable

    def _notable(self, e: dict, previous_state: str) -> bool:
        """Worth a log line: not the state changes around every evaluation and checkpoint."""
        kind = e.get("type")
        if kind == "step":
            return bool(self.log_every) and self.step % self.log_every == 0
        if kind == "state":
            state = e.get("state")
            if state in (State.SAVING, State.EVALUATING, State.FINISHED):
                return False  # the checkpoint / eval / finished event that follows says more
            if state == State.TRAINING and previous_state in (
                State.SAVING,
                State.EVALUATING,
                State.TRAINING,
            ):
                return False
        return kind in LOGGED

    def _on_state(self, e: StateEvent) -> None:
        was = self.state
        self.state, self.message = e.state, e.message
        self.total_steps = int(e.total_steps or self.total_steps)  # known before the first step
        self.recoverable = bool(e.recoverable)
        if was == State.PAUSED and self.paused_since is not None:
            self.pace.clear()  # the pause is not the pace
            self.paused_for += max(0.0, e.time - self.paused_since)
            self.paused_since = None
        if self.state == State.PAUSED and was != State.PAUSED:
            self.paused_since = e.time
        if self.state == State.LOADING:
            self.segment_start, self.paused_for, self.paused_since = e.time, 0.0, None
            self.pace.clear()

    def _on_step(self, e: StepEvent) -> None:
        if self.pace and e.step <= self.pace[-1][1]:
            self.pace.clear()  # steps re-run after a resume: the old pace no longer applies
        self.pace.append((e.time, e.step))
        self.step, self.total_steps = e.step, int(e.total_steps or self.total_steps)
        self.epoch = e.epoch
        self.loss, self.learning_rate = e.loss, e.learning_rate
        self.tokens_per_sec, self.mem_peak_gb, self.ranks = e.tokens_per_sec, e.mem_peak_gb, e.ranks
        if self.segment_start is None:
            self.segment_start = e.time - e.step_time

    def _on_eval(self, e: EvalEvent) -> None:
        self.val_loss, self.best_val_loss = e.val_loss, e.best_val_loss

    def _on_checkpoint(self, e: CheckpointEvent) -> None:
        self.checkpoint_step = e.step

    def _on_error(self, e: ErrorEvent) -> None:
        self.last_error = e

    def _on_recovery(self, e: RecoveryEvent) -> None:
        self.last_recovery = e
        self.profile = e.to.get("profile", self.profile)

    def _on_finished(self, e: FinishedEvent) -> None:
        self.state = State.FINISHED
        if self.best_val_loss is None:  # the evaluations said it already, rounded as shown
            self.best_val_loss = e.best_val_loss

    _HANDLERS = {
        StateEvent: _on_state,
        StepEvent: _on_step,
        EvalEvent: _on_eval,
        CheckpointEvent: _on_checkpoint,
        ErrorEvent: _on_error,
        RecoveryEvent: _on_recovery,
        FinishedEvent: _on_finished,
    }


def fmt_duration(seconds: float | None) -> str:
    """0:42, 12:05, 3:04:05; "--" when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_loss(value: float | None) -> str:
    return "--" if value is None else f"{value:.4f}"


def fmt_lr(value: float | None) -> str:
    return "--" if value is None else f"{value:.1e}"


def recovery_change(event: RecoveryEvent) -> str:
    """What a recovery changed, in words: "batch 4→2, accumulation 2→4"."""
    before, after = event.before, event.to
    names = {"profile": "profile", **{k: FIELDS[k].metadata["label"] for k in MEMORY_FIELDS}}
    parts = [
        f"{label} {before.get(key)}→{after.get(key)}"
        for key, label in names.items()
        if key in before and key in after and before[key] != after[key]
    ]
    return ", ".join(parts) or "same settings"


def describe_recovery(event: RecoveryEvent | dict) -> str:
    """Why a run was restarted and what changed, in the same words in the log, the banner and the
    toast (each adds only where training went on)."""
    e = event if isinstance(event, RecoveryEvent) else parse_event(event)
    change = recovery_change(e)
    return e.message if change in e.message else f"{e.message}; now {change}"


def describe_event(e: dict) -> str:
    """One event in words."""
    kind = e.get("type")
    if kind == "state":
        message = e.get("message", "")
        return f"{e.get('state')}: {message}" if message else str(e.get("state"))
    if kind == "step":
        return (
            f"step {e.get('step')}/{e.get('total_steps')}: loss {fmt_loss(e.get('loss'))}, "
            f"{e.get('tokens_per_sec', 0):.0f} tok/s"
        )
    if kind == "eval":
        best = ", new best" if e.get("is_best") else ""
        return (
            f"step {e.get('step')}: val loss {fmt_loss(e.get('val_loss'))}{best} "
            f"({e.get('eval_time', 0):.1f} s)"
        )
    if kind == "checkpoint":
        return f"step {e.get('step')} ({e.get('reason')}) → {e.get('path')}"
    if kind == "error":
        return f"{e.get('kind')}: {e.get('message')}"
    if kind == "recovery":
        return f"{describe_recovery(e)}; continues from step {e.get('resume_step')}"
    if kind == "finished":
        adapters = [Path(p).name for p in (e.get("final_adapter"), e.get("best_adapter")) if p]
        return (
            f"finished at step {e.get('step')}, best validation "
            f"{fmt_loss(e.get('best_val_loss'))}; "
            f"adapters in the run folder: {', '.join(adapters) or 'none'}"
        )
    if kind == "export":
        check = f"; {e.get('check')}" if e.get("check") else ""
        return f"exported {e.get('checkpoint')} as {e.get('route')} → {e.get('path')}{check}"
    return str(e.get("message", ""))


def ranks_text(s: RunStatus) -> str:
    """Each rank's tokens/s and MLX peak, e.g. "rank 0: 412 tok/s 0.41 GB · rank 1: 405 tok/s 0.40
    GB"; "" for a run on one rank."""
    return " · ".join(
        f"rank {r['rank']}: {r['tokens_per_sec']:.0f} tok/s {r['mem_peak_gb']:.2f} GB"
        for r in s.ranks or []
    )


def progress_line(s: RunStatus) -> str:
    """One line for a terminal or a log file: step, epoch, loss, val loss, tok/s, memory, ETA."""
    parts = [f"step {s.step}/{s.total_steps or '?'}", f"ep {s.epoch}", f"loss {fmt_loss(s.loss)}"]
    if s.val_loss is not None:
        best = f" (best {fmt_loss(s.best_val_loss)})" if s.best_val_loss is not None else ""
        parts.append(f"val {fmt_loss(s.val_loss)}{best}")
    if s.tokens_per_sec is not None:
        parts.append(f"{s.tokens_per_sec:.0f} tok/s")
    if s.mem_peak_gb is not None:
        parts.append(
            f"mem {s.mem_peak_gb:.2f}" + (f"/{s.budget_gb:.1f} GB" if s.budget_gb else " GB")
        )
    parts.append(f"ETA {fmt_duration(s.eta)}")
    if s.ranks:
        parts.append(ranks_text(s))
    return " │ ".join(parts)
