"""The Training screen's top: a banner for what went wrong, the progress bar, and the latest
figures.

Every figure is read from the run's events (via `RunStatus`); a figure the run has not produced
yet shows as "--", never as a guess.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from farense_tui.engine.runs.status import (
    RunStatus,
    describe_recovery,
    fmt_duration,
    fmt_loss,
    fmt_lr,
    ranks_text,
)


def banner_text(s: RunStatus) -> tuple[str, str]:
    """(text, kind) of the banner; kind "" hides it, "-error" or "-warning" colours it."""
    if s.run_dir is None:
        return "", ""
    if s.status == "dead":
        return (
            f"✗ The engine process of this run is gone (step {s.step}, last checkpoint step "
            f"{s.checkpoint_step}). Press r to resume it: as is or with smaller settings."
        ), "-error"
    if s.status == "failed":
        hint = " Press r to resume with smaller settings or as is." if s.recoverable else ""
        return f"✗ Failed: {s.message}.{hint}", "-error"
    if s.last_recovery is not None:
        e = s.last_recovery
        return f"⚠ Restarted from step {e.resume_step}: {describe_recovery(e)}.", "-warning"
    return "", ""


class ProgressPanel(Vertical):
    """Banner, progress bar with step/epoch/elapsed/ETA, and loss / val / lr / tok/s, cost and state
    lines."""

    DEFAULT_CSS = """
    ProgressPanel { height: auto; padding: 0 1; }
    ProgressPanel #banner { display: none; height: auto; padding: 0 1; }
    ProgressPanel #banner.-error { display: block; background: $error 25%; color: $text; }
    ProgressPanel #banner.-warning { display: block; background: $warning 25%; color: $text; }
    ProgressPanel #progress-line { height: 1; }
    ProgressPanel ProgressBar { width: 1fr; max-width: 48; }
    ProgressPanel ProgressBar Bar { width: 1fr; }
    ProgressPanel #timing { width: auto; padding-left: 1; }
    /* a second line lists the ranks of a data-parallel run */
    ProgressPanel #figures { height: auto; }
    ProgressPanel #cost { height: 1; color: $foreground-muted; }
    ProgressPanel #state { height: 1; color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._shown: dict[str, str] = {}  # selector -> the text it shows

    def compose(self) -> ComposeResult:
        yield Static("", id="banner", markup=False)
        with Horizontal(id="progress-line"):
            yield ProgressBar(total=1, show_eta=False, id="bar")
            yield Static("", id="timing", markup=False)
        yield Static("", id="figures", markup=False)
        yield Static("", id="cost", markup=False)
        yield Static("", id="state", markup=False)

    def show(self, s: RunStatus, price_per_hour: float | None = None) -> None:
        text, kind = banner_text(s)
        if self._put("#banner", text, layout=True):  # its height follows the text
            self.query_one("#banner").set_classes(kind)
        self.query_one("#bar", ProgressBar).update(total=max(s.total_steps, 1), progress=s.step)
        total = s.total_steps or "?"
        self._put(
            "#timing",
            f"step {s.step}/{total} · epoch {s.epoch} · elapsed {fmt_duration(s.elapsed)} · "
            f"ETA {fmt_duration(s.eta)}",
            layout=True,
        )  # its width follows the text
        best = f" (best {fmt_loss(s.best_val_loss)})" if s.best_val_loss is not None else ""
        # Two speeds on one screen, each named: the newest step's here, the run's median step's
        # below.
        tps = f"{s.tokens_per_sec:.0f}" if s.tokens_per_sec is not None else "--"
        self._put(
            "#figures",
            f"loss {fmt_loss(s.loss)}   val {fmt_loss(s.val_loss)}{best}   lr "
            f"{fmt_lr(s.learning_rate)}"
            f"   {tps} tok/s last step" + (f"\n{ranks_text(s)}" if s.ranks else ""),
            layout=True,
        )  # data-parallel: all ranks, one line
        # What the run cost so far: work hours, tokens, median speed, peak memory, money at a price.
        self._put("#cost", f"cost {s.cost.words(price_per_hour)}" if s.run_dir is not None else "")
        if s.run_dir is None:
            state = (
                "No active run: start one on Config (1), or pick one below and press a to attach."
            )
        else:
            # A training state's message is the step it started at; the line above says more.
            quiet = s.status == "training" or not s.message
            state = s.status if quiet else f"{s.status}: {s.message}"
            state += f" · profile {s.profile}" + (f" · {s.placement}" if s.placement else "")
            state += f" · from {s.parent}" if s.parent else ""
        self._put("#state", state)

    def _put(self, selector: str, text: str, layout: bool = False) -> bool:
        """Show `text` in a line if it changed; True if it did. A line whose size cannot change
        skips the relayout of the whole screen that `Static.update` does by default."""
        if self._shown.get(selector) == text:
            return False
        self._shown[selector] = text
        self.query_one(selector, Static).update(text, layout=layout)
        return True
