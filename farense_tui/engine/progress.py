"""Turn a run's events into one progress line (step, loss, val loss, tok/s, memory, ETA).

Shared by the headless CLI and the TUI header, so both say the same thing the same way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Progress:
    """Folds events into the latest figures; `eta` from the recent step times."""

    state: str = "created"
    message: str = ""
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    learning_rate: float | None = None
    tokens_per_sec: float | None = None
    mem_peak_gb: float | None = None
    started: float | None = None
    recent: deque = field(default_factory=lambda: deque(maxlen=20))

    def add(self, event: dict) -> None:
        kind = event["type"]
        if kind == "state":
            self.state, self.message = event["state"], event.get("message", "")
        elif kind == "step":
            self.step, self.total_steps, self.epoch = event["step"], event["total_steps"], event["epoch"]
            self.loss, self.learning_rate = event["loss"], event["learning_rate"]
            self.tokens_per_sec, self.mem_peak_gb = event["tokens_per_sec"], event["mem_peak_gb"]
            self.recent.append(event["step_time"])
            self.started = self.started or event["time"] - event["step_time"]
        elif kind == "eval":
            self.val_loss, self.best_val_loss = event["val_loss"], event.get("best_val_loss")
        elif kind == "finished":
            self.state = "finished"

    @property
    def eta_seconds(self) -> float | None:
        if not self.recent or not self.total_steps:
            return None
        return sum(self.recent) / len(self.recent) * (self.total_steps - self.step)

    def line(self, budget_gb: float | None = None) -> str:
        parts = [f"step {self.step}/{self.total_steps or '?'}", f"ep {self.epoch}"]
        parts.append(f"loss {self.loss:.4f}" if self.loss is not None else "loss --")
        if self.val_loss is not None:
            best = f" (best {self.best_val_loss:.4f})" if self.best_val_loss is not None else ""
            parts.append(f"val {self.val_loss:.4f}{best}")
        if self.tokens_per_sec is not None:
            parts.append(f"{self.tokens_per_sec:.0f} tok/s")
        if self.mem_peak_gb is not None:
            parts.append(f"mem {self.mem_peak_gb:.2f}" + (f"/{budget_gb:.1f} GB" if budget_gb else " GB"))
        parts.append(f"ETA {fmt_duration(self.eta_seconds)}")
        return " │ ".join(parts)
