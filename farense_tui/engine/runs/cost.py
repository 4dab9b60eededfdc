"""What a run cost: wall hours the engine worked, tokens trained, its training speed, peak memory,
and money at a price per hour the user gives. Part of the RunStatus fold, so it comes from the
same events as every other figure; pauses and the time a dead run lay idle are not counted.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field

from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.event_types import Event, RecoveryEvent, State, StateEvent, StepEvent

PRICE_ENV = "FARENSE_PRICE_PER_HOUR"
"""What an hour of this machine costs, in the user's money: the cockpit and `runs` show money
then."""

WORKING = frozenset(
    {
        State.LOADING,
        State.TRAINING,
        State.EVALUATING,
        State.SAVING,
        State.STOPPING,
        State.SWITCHING,
        State.RECOVERING,
    }
)
"""States in which the engine process is spending machine time."""


@dataclass
class RunCost:
    wall_seconds: float = 0.0
    trained_tokens: int = 0
    peak_memory_gb: float | None = None  # the highest MLX peak of any step
    step_speeds: list[float] = field(default_factory=list)  # tokens/s of each step
    _working_since: float | None = None  # time of the last event while the engine worked

    def add(self, record: Event) -> None:
        if isinstance(record, StepEvent):
            self.trained_tokens = record.trained_tokens or self.trained_tokens
            if record.tokens_per_sec:
                self.step_speeds.append(record.tokens_per_sec)
            if record.mem_peak_gb is not None:
                self.peak_memory_gb = max(self.peak_memory_gb or 0.0, record.mem_peak_gb)
        if isinstance(record, RecoveryEvent) or (
            isinstance(record, StateEvent) and record.state == State.LOADING
        ):
            # A (re)start: however long the run lay dead or stopped before it is not work.
            self._working_since = record.time if isinstance(record, StateEvent) else None
            return
        if self._working_since is not None and record.time:
            self.wall_seconds += max(0.0, record.time - self._working_since)
            self._working_since = record.time
        if isinstance(record, StateEvent):
            self._working_since = record.time if record.state in WORKING else None

    @property
    def wall_hours(self) -> float:
        return self.wall_seconds / 3600

    @property
    def tokens_per_sec(self) -> float | None:
        """The median step's speed: what training ran at, evaluations and checkpoints aside."""
        return statistics.median(self.step_speeds) if self.step_speeds else None

    def money(self, price_per_hour: float | None) -> float | None:
        return None if price_per_hour is None else self.wall_hours * price_per_hour

    def to_json(self, price_per_hour: float | None = None) -> dict:
        return {
            "wall_hours": round(self.wall_hours, 6),
            "trained_tokens": self.trained_tokens,
            "tokens_per_sec": self.tokens_per_sec,
            "peak_memory_gb": self.peak_memory_gb,
            "price_per_hour": price_per_hour,
            "money": self.money(price_per_hour),
        }

    def words(self, price_per_hour: float | None = None) -> str:
        parts = [f"{self.wall_hours:.3f} h", f"{self.trained_tokens:,} tokens"]
        if self.tokens_per_sec is not None:
            parts.append(f"{self.tokens_per_sec:.0f} tok/s median step")
        if self.peak_memory_gb is not None:
            parts.append(f"peak {self.peak_memory_gb:.2f} GB")
        if price_per_hour is not None:
            parts.append(f"{self.money(price_per_hour):.2f} at {price_per_hour:g}/h")
        return ", ".join(parts)


def price_from_env(environ=os.environ) -> float | None:
    """The price per hour set in FARENSE_PRICE_PER_HOUR; None when unset; UserError when it is
    not a price."""
    text = environ.get(PRICE_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise UserError(f"{PRICE_ENV}={text!r} is not a price per hour (a number from 0 up)")
    return value
