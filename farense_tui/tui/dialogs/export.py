"""The Export dialog: pick a route and a checkpoint of one run, export in a thread worker, watch it.

The plan (no MLX) is made on the UI thread, so a refusal (existing output, no adapter) shows at
once; the export itself runs in its own process (the CLI's), whose lines a worker posts as steps, and the dialog stays until it ends
(a write cannot be cancelled halfway, and staging means none is ever left half-done).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Log, Select

from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.blas import with_fast_blas
from farense_tui.engine.export.plan import ROUTE_HELP, ROUTES, ExportPlan, plan_export
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.tui.messages import ExportFinished, ExportProgressed
from farense_tui.tui.dialogs.prompts import DIALOG_CSS


class ExportDialog(ModalScreen[None]):
    """Export one run's adapter: fused, GGUF, PEFT or Ollama; each step is logged as it starts."""

    BINDINGS = [Binding("escape", "close", "Close")]
    DEFAULT_CSS = DIALOG_CSS.format(name="ExportDialog") + """
    ExportDialog Select { width: 1fr; margin-bottom: 1; }
    ExportDialog Log { height: 8; border: round $panel; margin-bottom: 1; }
    """

    def __init__(self, run_dir: Path, checkpoint: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.checkpoints = RunFolder(run_dir).adapter_choices()
        self.checkpoint = checkpoint if checkpoint in self.checkpoints else (self.checkpoints or [None])[0]
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export {self.run_dir.name}", classes="title", markup=False)
            yield Select([(f"{r} — {ROUTE_HELP[r]}", r) for r in ROUTES], value="fused", allow_blank=False,
                         id="route", compact=True)
            yield Select([(c if not c.isdigit() else f"step {c}", c) for c in self.checkpoints],
                         value=self.checkpoint or Select.BLANK, prompt="no adapter yet", id="checkpoint", compact=True)
            yield Checkbox("keep quantized (fused: the base's quantization; refused if answers change)",
                           id="keep-quantized", compact=True)
            yield Checkbox("replace an existing export (--force)", id="force", compact=True)
            yield Log(id="export-log", auto_scroll=True)
            with Horizontal():
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#route").focus()

    def action_close(self) -> None:
        if self.busy:
            self.notify("The export finishes by itself; nothing is left half-written", severity="warning")
            return
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def close_pressed(self) -> None:
        self.action_close()

    @on(Button.Pressed, "#export")
    def start_export(self) -> None:
        log = self.query_one(Log)
        checkpoint = self.query_one("#checkpoint", Select).value
        try:
            if checkpoint is Select.BLANK:
                raise UserError(f"run {self.run_dir.name} has no adapter yet: train it first")
            plan = plan_export(self.run_dir, str(self.query_one("#route", Select).value), str(checkpoint),
                               keep_quantized=self.query_one("#keep-quantized", Checkbox).value,
                               force=self.query_one("#force", Checkbox).value)
        except UserError as exc:
            log.write_line(f"✗ {exc}")
            return
        self.busy = True
        self.query_one("#export", Button).disabled = True
        log.write_line(f"exporting {plan.checkpoint} as {plan.route} → {plan.out}")
        self.export(plan, self.query_one("#force", Checkbox).value)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="export an adapter")
    def export(self, plan: ExportPlan, force: bool) -> None:
        # In a process of its own, as training and evaluation are: MLX arrays and compiled graphs are
        # tied to the thread that made them, and a second export from a new worker thread met the
        # first one's ("There is no Stream(cpu, N) in current thread"); the cockpit keeps no model.
        command = [sys.executable, "-m", "farense_tui", "export", str(plan.run_dir), "--to", plan.route,
                   "--checkpoint", plan.checkpoint, "--out", str(plan.out)]
        command += ["--force"] * force + ["--keep-quantized"] * plan.keep_quantized
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=with_fast_blas(dict(os.environ)))
        said = {"check": "", "next": "", "farense-tui": ""}
        tail: list[str] = []
        for line in proc.stdout:
            line = line.rstrip()
            head, _, rest = line.partition(": ")
            if line.startswith("  "):
                self.post_message(ExportProgressed(line.strip()))
            elif head in said:
                said[head] = rest
            elif line:
                tail = (tail + [line])[-3:]
        if proc.wait() == 0:
            self.post_message(ExportFinished(plan.out, said["check"], said["next"]))
        else:
            self.post_message(ExportFinished(None, error=said["farense-tui"] or " / ".join(tail) or
                                             f"the export process exited with code {proc.returncode}"))

    @on(ExportProgressed)
    def log_step(self, message: ExportProgressed) -> None:
        self.query_one(Log).write_line(f"· {message.line}")

    @on(ExportFinished)
    def show_result(self, message: ExportFinished) -> None:
        self.busy = False
        self.query_one("#export", Button).disabled = False
        log = self.query_one(Log)
        if message.error:
            log.write_line(f"✗ {message.error}")
            return
        log.write_line(f"✓ {message.check}")
        if message.command:
            log.write_line(f"next: {message.command}")
        self.notify(f"Exported to {message.path}")
