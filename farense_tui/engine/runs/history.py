"""Metric history of a run: plain Python, fed with run events, beside RunStatus (status.py) so that
every view draws the same curves; the cockpit's Monitor charts read it.

The App owns one `MetricHistory` and feeds it every batch of events it reads from the run's
events.jsonl (schema in `farense_tui.engine.runs.events`). Charts poll `version` and replot only
when it changed, asking for a downsampled copy of each series about twice as wide as the chart.

Series are keyed by step where the run re-does work: after a recovery (or a resume) the engine
re-runs the steps after its last checkpoint, so a step that arrives again replaces the points from
that step on — the later value for a step wins and the curve continues from the checkpoint.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from pathlib import Path

MAX_POINTS = 20_000
"""Points kept per series before it is thinned to every other point (a few MB at most)."""

MEMORY_FIELDS = {
    "mem_active_gb": "MLX active",
    "mem_peak_gb": "MLX peak",
    "rss_gb": "process RSS",
    "sys_used_gb": "system used",
}
"""Step-event fields drawn on the memory chart, with their legend labels."""


class Series:
    """Points (x, y) sorted by x, bounded to `max_points` by thinning.

    With `restart_on_repeat` an x at or below the last one drops every point from that x on
    before it is added (a re-run step replaces the old values); otherwise x must not go back and
    such a point is appended as-is (time series).
    """

    def __init__(self, max_points: int = MAX_POINTS, restart_on_repeat: bool = True):
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.max_points = max(4, max_points)
        self.restart_on_repeat = restart_on_repeat

    def __len__(self) -> int:
        return len(self.xs)

    def __bool__(self) -> bool:
        return bool(self.xs)

    @property
    def last(self) -> tuple[float, float] | None:
        return (self.xs[-1], self.ys[-1]) if self.xs else None

    def add(self, x: float, y: float) -> None:
        if self.restart_on_repeat and self.xs and x <= self.xs[-1]:
            self.truncate_from(x)
        self.xs.append(x)
        self.ys.append(y)
        if len(self.xs) > self.max_points:
            # Keep every other point and always the newest; the charts downsample further anyway.
            last_x, last_y = self.xs[-1], self.ys[-1]
            self.xs, self.ys = self.xs[::2], self.ys[::2]
            if self.xs[-1] != last_x:
                self.xs.append(last_x)
                self.ys.append(last_y)

    def truncate_from(self, x: float) -> None:
        """Drop every point with an x at or after `x`."""
        cut = bisect.bisect_left(self.xs, x)
        del self.xs[cut:], self.ys[cut:]

    def downsample(self, n: int) -> tuple[list[float], list[float]]:
        """At most about `n` points that keep the curve's envelope (min and max of each bucket)."""
        return downsample(self.xs, self.ys, n)


def downsample(xs: list[float], ys: list[float], n: int) -> tuple[list[float], list[float]]:
    """Min/max bucketing: spikes (a diverging loss, a memory peak) survive; first and last stay."""
    count = len(xs)
    n = max(2, int(n))
    if count <= n:
        return list(xs), list(ys)
    buckets = max(1, (n - 2) // 2)
    out_x, out_y = [xs[0]], [ys[0]]
    inner = count - 2
    for b in range(buckets):
        lo = 1 + b * inner // buckets
        hi = 1 + (b + 1) * inner // buckets
        if hi <= lo:
            continue
        seg = range(lo, hi)
        i_min = min(seg, key=ys.__getitem__)
        i_max = max(seg, key=ys.__getitem__)
        for i in sorted({i_min, i_max}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    out_x.append(xs[-1])
    out_y.append(ys[-1])
    return out_x, out_y


REWARD_SERIES = ("train margin", "val margin", "train accuracy", "val accuracy")


@dataclass
class Restart:
    """A recovery or resume: training went on from `step` (its checkpoint)."""

    step: int
    message: str


@dataclass
class MetricHistory:
    """Everything the Monitor draws, built from run events; `version` changes with every change."""

    run_dir: Path | None = None
    budget_gb: float | None = None
    total_ram_gb: float = 0.0
    max_points: int = MAX_POINTS
    version: int = 0
    train_loss: Series = field(init=False)
    val_loss: Series = field(init=False)
    tokens_per_sec: Series = field(init=False)
    tokens_at: Series = field(init=False)
    """Trained tokens by step: the compare chart's x axis by tokens."""
    seconds_at: Series = field(init=False)
    """Training seconds by step (the steps' own times summed along the curve: no pauses, loading,
    evaluations or re-run work): the compare chart's x axis by time."""
    memory: dict[str, Series] = field(init=False)
    rewards: dict[str, Series] = field(init=False)
    """Preference runs (dpo, orpo): reward margin and accuracy by step, train and val
    (REWARD_SERIES)."""
    restarts: list[Restart] = field(init=False)
    start_time: float | None = field(init=False)
    last_step: dict | None = field(init=False)
    best_val: tuple[int, float] | None = field(init=False)
    peak_memory_gb: float = field(init=False)
    state: str = field(init=False)

    def __post_init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.train_loss = Series(self.max_points)
        self.val_loss = Series(self.max_points)
        self.tokens_per_sec = Series(self.max_points)
        self.tokens_at = Series(self.max_points)
        self.seconds_at = Series(self.max_points)
        # Memory is drawn against time since the first event; time never goes back, nothing
        # restarts.
        self.memory = {
            name: Series(self.max_points, restart_on_repeat=False) for name in MEMORY_FIELDS
        }
        self.rewards = {name: Series(self.max_points) for name in REWARD_SERIES}
        self.restarts = []
        self.start_time = None
        self.last_step = None
        self.best_val = None
        self.peak_memory_gb = 0.0
        self.state = ""

    @property
    def has_run(self) -> bool:
        return self.run_dir is not None

    @property
    def swap_gb(self) -> float | None:
        return self.last_step.get("swap_used_gb") if self.last_step else None

    def reset(self, run_dir: Path | None, budget_gb: float | None, total_ram_gb: float) -> None:
        """Forget everything: a new run (or none) becomes the active one."""
        self.run_dir = run_dir
        self.budget_gb = budget_gb
        self.total_ram_gb = total_ram_gb
        self._clear()
        self.version += 1

    def add_events(self, events: list[dict]) -> bool:
        """Take a batch of events in file order; True (and a new `version`) if anything changed."""
        changed = False
        for event in events:
            handler = self._HANDLERS.get(event.get("type"))
            if handler is not None and handler(self, event) is not False:
                changed = True
        if changed:
            self.version += 1
        return changed

    # -- one handler per event type; each returns False when it changed nothing --------------------

    def _elapsed(self, event: dict) -> float | None:
        t = event.get("time")
        if not isinstance(t, (int, float)):
            return None
        if self.start_time is None:
            self.start_time = float(t)
        return max(0.0, float(t) - self.start_time)

    def _on_step(self, event: dict) -> bool:
        step = event.get("step")
        if not isinstance(step, int):
            return False
        if self.train_loss and step <= self.train_loss.xs[-1]:
            # A step seen before with no recovery event: a resume from the checkpoint before it.
            self._restart_at(step - 1, "resumed")
        self.last_step = event
        loss = event.get("loss")
        if _finite(loss):
            self.train_loss.add(step, float(loss))
        tps = event.get("tokens_per_sec")
        if _finite(tps):
            self.tokens_per_sec.add(step, float(tps))
        tokens = event.get("trained_tokens")
        if _finite(tokens):
            self.tokens_at.add(step, float(tokens))
        step_time = event.get("step_time")
        if _finite(step_time):
            before = self.seconds_at.last  # the previous step of this curve (re-run steps are gone)
            self.seconds_at.add(
                step, (before[1] if before and before[0] < step else 0.0) + float(step_time)
            )
        elapsed = self._elapsed(event)
        if elapsed is not None:
            for key, series in self.memory.items():
                value = event.get(key)
                if _finite(value):
                    series.add(elapsed, float(value))
        self._add_rewards("train", step, event)
        peak = event.get("mem_peak_gb")
        if _finite(peak):
            self.peak_memory_gb = max(self.peak_memory_gb, float(peak))
        return True

    def _on_eval(self, event: dict) -> bool:
        step, value = event.get("step"), event.get("val_loss")
        if not isinstance(step, int) or not _finite(value):
            return False
        self.val_loss.add(step, float(value))
        self._add_rewards("val", step, event)
        self._elapsed(event)
        self._recompute_best()
        return True

    def _on_recovery(self, event: dict) -> bool:
        step = event.get("resume_step")
        if not isinstance(step, int):
            return False
        self._restart_at(step, str(event.get("message", "recovery")))
        return True

    def _on_state(self, event: dict) -> bool:
        state = str(event.get("state", ""))
        self._elapsed(event)
        if state == self.state:
            return False
        self.state = state
        return True

    _HANDLERS = {"step": _on_step, "eval": _on_eval, "recovery": _on_recovery, "state": _on_state}

    def _restart_at(self, step: int, message: str) -> None:
        """Training goes on from `step`: steps after it will be re-run, so their points go."""
        for series in (
            self.train_loss,
            self.tokens_per_sec,
            self.val_loss,
            self.tokens_at,
            self.seconds_at,
            *self.rewards.values(),
        ):
            series.truncate_from(step + 1)
        if self.restarts and self.restarts[-1].step == step:
            # A recovery event is followed by the re-run steps; one marker for both.
            if message != "resumed":
                self.restarts[-1].message = message
            return
        self.restarts.append(Restart(step, message))
        self._recompute_best()

    def _add_rewards(self, split: str, step: int, event: dict) -> None:
        for key in ("reward_margin", "reward_accuracy"):
            if _finite(event.get(key)):
                self.rewards[f"{split} {key[7:]}"].add(step, float(event[key]))

    def _recompute_best(self) -> None:
        if not self.val_loss:
            self.best_val = None
            return
        i = min(range(len(self.val_loss)), key=self.val_loss.ys.__getitem__)
        self.best_val = (int(self.val_loss.xs[i]), self.val_loss.ys[i])


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
