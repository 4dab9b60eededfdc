"""Config's "From a run": a run and checkpoint to build on (`train --from RUN[:CHECKPOINT]`) and
the fuse switch (`--fuse`), checked as they change with the engine's own lineage rules.

Without fuse the new run starts from the parent's adapter, on its base and LoRA shape; with fuse
it trains a new adapter on the parent's fused model (exported on Start when not yet in models/).
A full fine-tune's best/final is a model already: the new run trains on it. The runs are listed
in a thread (a folder read per run); `refresh_runs` lists them again when Config is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Select, Static

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.lineage import find_parent
from farense_tui.engine.runs.run_folder import RunFolder, is_model_folder

NONE = ""
NONE_LABEL = "none: a new run on the model above"
HINT = "a run's adapter to continue from (train --from); fuse: a new adapter on its fused model"


class FromRunField(Vertical):
    """The parent run (`spec`, "" for none) and `fuse`; `error` is "" when Start may use them."""

    DEFAULT_CSS = """
    FromRunField { height: auto; }
    FromRunField Horizontal { height: 1; }
    FromRunField #from-run { width: 1fr; }
    FromRunField #from-fuse { width: auto; margin-left: 1; }
    FromRunField #from-hint { color: $foreground-muted; height: auto; }
    FromRunField #from-hint.-invalid { color: $error; }
    """

    @dataclass
    class Listed(Message):
        """The runs that offer an adapter (or a full fine-tune's model), as RUN:CHECKPOINT."""

        choices: list[str]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec, self.fuse, self.error = NONE, False, ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Select(
                [(NONE_LABEL, NONE)], value=NONE, allow_blank=False, compact=True, id="from-run"
            )
            yield Checkbox("fuse", compact=True, id="from-fuse")
        yield Static(HINT, id="from-hint", markup=False)

    def on_mount(self) -> None:
        self.refresh_runs()

    @work(
        thread=True,
        exclusive=True,
        group="from-runs",
        exit_on_error=False,
        description="list runs to build on",
    )
    def refresh_runs(self) -> None:
        self.post_message(
            self.Listed(
                [
                    f"{r.run_id}:{which}"
                    for r in runs.list_runs()
                    for which in RunFolder(r.path).adapter_choices()
                ]
            )
        )

    @on(Listed)
    def offer(self, message: Listed) -> None:
        message.stop()
        select = self.query_one("#from-run", Select)
        current = select.value
        select.set_options([(NONE_LABEL, NONE), *((c, c) for c in message.choices)])
        select.value = current if current in message.choices else NONE

    @on(Select.Changed, "#from-run")
    @on(Checkbox.Changed, "#from-fuse")
    def check(self) -> None:
        self.spec = str(self.query_one("#from-run", Select).value or NONE)
        self.fuse = self.query_one("#from-fuse", Checkbox).value
        self.error, text = "", HINT
        if self.fuse and not self.spec:
            self.error = text = "fuse fuses the run picked here: pick a run, or switch fuse off"
        elif self.spec:
            try:
                text = describe(self.spec, self.fuse)
            except UserError as exc:
                self.error = text = str(exc)
        hint = self.query_one("#from-hint", Static)
        hint.update(text)
        hint.set_class(bool(self.error), "-invalid")


def describe(spec: str, fuse: bool) -> str:
    """What a run started from `spec` trains on, in words (the same refusals as `train --from`)."""
    parent = find_parent(spec)
    if fuse:
        return (
            f"a new adapter on the fused model of {parent.name} (exported on Start if not yet "
            f"in models/)"
        )
    if is_model_folder(parent.adapter):
        return f"{parent.name} is a full fine-tune: the new run trains on its model"
    p = parent.config.profile
    return (
        f"starts from {parent.name}'s adapter, on its base {parent.config.model} "
        f"(LoRA rank {p.lora_rank}, scale {p.lora_scale:g}, its blocks and targets)"
    )
