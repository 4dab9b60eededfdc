"""What a run's events say, typed: the `State` of a run and one record per event type.

The writer checks every event against its record (a misspelt or missing field fails in the
engine, not in a reader hours later); readers parse lines into records with `parse_event`, which
skips what it does not know, so a newer or damaged file never breaks an older reader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar


class State(str, Enum):
    """Where a run is. Compares equal to its value, so events and code share one spelling."""

    CREATED = "created"  # folder made, nothing has run yet
    QUEUED = "queued"  # waiting for its group's queue to start it (runs/queue.py)
    LOADING = "loading"
    TRAINING = "training"
    PAUSED = "paused"
    EVALUATING = "evaluating"
    SAVING = "saving"
    STOPPING = "stopping"
    SWITCHING = "switching"
    RECOVERING = "recovering"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"
    DEAD = "dead"  # never written: a reader's word for "said running, but no process is left"

    __str__ = str.__str__  # f"{State.PAUSED}" is "paused", as in the events

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({State.FINISHED, State.STOPPED, State.FAILED})
"""States a run's engine writes last; a run in one of them is not coming back by itself."""


@dataclass(frozen=True)
class Event:
    """Fields every event has: its type (the record's) and when it was written (unix seconds)."""

    type: ClassVar[str] = ""
    time: float = 0.0


@dataclass(frozen=True)
class StateEvent(Event):
    type: ClassVar[str] = "state"
    state: str = ""
    message: str = ""
    step: int | None = None
    total_steps: int | None = None  # known before the first step
    recoverable: bool | None = None  # a failure that a smaller resume may fix


@dataclass(frozen=True)
class StepEvent(Event):
    type: ClassVar[str] = "step"
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    loss: float | None = None
    learning_rate: float | None = None
    tokens_per_sec: float | None = None
    step_time: float = 0.0
    trained_tokens: int = 0
    input_tokens: int | None = None  # the step's tokens, prompts included, no padding: its work
    mem_active_gb: float | None = None
    mem_peak_gb: float | None = None
    mem_cache_gb: float | None = None
    rss_gb: float | None = None
    sys_used_gb: float | None = None
    sys_available_gb: float | None = None
    swap_used_gb: float | None = None
    ranks: list | None = (
        None  # data-parallel runs: [{rank, tokens_per_sec, mem_peak_gb, rss_gb, sys_used_gb,
    )
    #                              sys_available_gb, swap_used_gb}, ...]
    # Preference objectives (dpo, orpo) only: the step's mean rewards, their margin, and the share
    # of pairs whose chosen reply out-scores the rejected one (preference_objective.py).
    reward_chosen: float | None = None
    reward_rejected: float | None = None
    reward_margin: float | None = None
    reward_accuracy: float | None = None


@dataclass(frozen=True)
class EvalEvent(Event):
    type: ClassVar[str] = "eval"
    step: int = 0
    val_loss: float | None = None
    best_val_loss: float | None = None
    is_best: bool = False
    eval_time: float = 0.0
    reward_chosen: float | None = None  # as StepEvent's, over the valid split (dpo, orpo)
    reward_rejected: float | None = None
    reward_margin: float | None = None
    reward_accuracy: float | None = None


@dataclass(frozen=True)
class CheckpointEvent(Event):
    type: ClassVar[str] = "checkpoint"
    step: int = 0
    path: str = ""
    reason: str = ""  # periodic | stop | save-now | budget | allocation | switch | final


@dataclass(frozen=True)
class WarningEvent(Event):
    type: ClassVar[str] = "warning"
    message: str = ""
    kind: str = ""


@dataclass(frozen=True)
class NoteEvent(Event):
    """How the run applies a setting, said once when it starts (not a problem)."""

    type: ClassVar[str] = "note"
    message: str = ""
    kind: str = ""


@dataclass(frozen=True)
class ErrorEvent(Event):
    type: ClassVar[str] = "error"
    message: str = ""
    kind: str = ""  # oom | budget | nan | data | model | killed | crash
    step: int | None = None


@dataclass(frozen=True)
class RecoveryEvent(Event):
    type: ClassVar[str] = "recovery"
    message: str = ""
    before: dict = field(default_factory=dict, metadata={"key": "from"})  # settings before
    to: dict = field(default_factory=dict)  # settings after
    resume_step: int = 0


@dataclass(frozen=True)
class FinishedEvent(Event):
    type: ClassVar[str] = "finished"
    step: int = 0
    final_adapter: str | None = None
    best_adapter: str | None = None
    best_val_loss: float | None = None


@dataclass(frozen=True)
class ExportEvent(Event):
    type: ClassVar[str] = "export"
    route: str = ""  # fused | gguf | peft | ollama
    checkpoint: str = ""  # best | final | a step number
    path: str = ""  # the folder written
    base_model: str = ""
    check: str = ""  # what was compared after writing, and the result
    command: str = ""  # what to run next (the `ollama create` line); in an export job's events


@dataclass(frozen=True)
class ProgressEvent(Event):
    """An evaluation's progress (evaluate/process.py): examples answered so far, of all to answer;
    an export's (export/process.py): the step it begins."""

    type: ClassVar[str] = "progress"
    phase: str = ""  # loss | answers | export
    done: int = 0
    total: int = 0
    eta_sec: float | None = None
    message: str = ""  # export: the step begun


@dataclass(frozen=True)
class ResultEvent(Event):
    """An evaluation's last word: where its results are."""

    type: ClassVar[str] = "result"
    path: str = ""
    answers: str = ""


RECORDS: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        StateEvent,
        StepEvent,
        EvalEvent,
        CheckpointEvent,
        WarningEvent,
        NoteEvent,
        ErrorEvent,
        RecoveryEvent,
        FinishedEvent,
        ExportEvent,
        ProgressEvent,
        ResultEvent,
    )
}


def _keys(cls: type[Event]) -> dict[str, str]:
    """JSON key -> field name ("from" is a Python keyword, so its field is `before`)."""
    return {f.metadata.get("key", f.name): f.name for f in dataclasses.fields(cls)}


def make_event(type_: str, **fields) -> Event:
    """The record for an event about to be written; a field it does not have is a TypeError."""
    cls = RECORDS.get(type_)
    if cls is None:
        raise TypeError(f"unknown event type {type_!r}")
    keys = _keys(cls)
    unknown = set(fields) - set(keys)
    if unknown:
        raise TypeError(f"{type_} events have no field(s) {', '.join(sorted(unknown))}")
    return cls(**{keys[k]: v for k, v in fields.items()})


def parse_event(raw: dict) -> Event | None:
    """The record for a line read back; None for a type this version does not know."""
    cls = RECORDS.get(raw.get("type")) if isinstance(raw, dict) else None
    if cls is None:
        return None
    keys = _keys(cls)
    return cls(**{keys[k]: v for k, v in raw.items() if k in keys})
