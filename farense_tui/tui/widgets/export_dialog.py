"""The Export dialog: pick a route and a checkpoint of one run, export in a thread worker, watch it.

The plan (no MLX) is made on the UI thread, so a refusal (existing output, no adapter) shows at
once; the export itself runs in a worker that posts each step, and the dialog stays until it ends
(a write cannot be cancelled halfway, and staging means none is ever left half-done).
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Log, Select

from farense_tui.engine.chat.targets import release_mlx_streams
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.plan import ROUTE_HELP, ROUTES, ExportPlan, plan_export
from farense_tui.engine.runs.checkpoints import adapter_choices
from farense_tui.tui.messages import ExportFinished, ExportProgressed
from farense_tui.tui.widgets.dialogs import DIALOG_CSS


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
        self.checkpoints = adapter_choices(run_dir)
        self.checkpoint = checkpoint if checkpoint in self.checkpoints else (self.checkpoints or [None])[0]
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export {self.run_dir.name}", classes="title", markup=False)
            yield Select([(f"{r} — {ROUTE_HELP[r]}", r) for r in ROUTES], value="fused", allow_blank=False,
                         id="route", compact=True)
            yield Select([(c if not c.isdigit() else f"step {c}", c) for c in self.checkpoints],
                         value=self.checkpoint or Select.BLANK, prompt="no adapter yet", id="checkpoint", compact=True)
            yield Checkbox("dequantize (fused: float weights, not the base's quantization)", id="dequantize",
                           compact=True)
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
                               dequantize=self.query_one("#dequantize", Checkbox).value,
                               force=self.query_one("#force", Checkbox).value)
        except UserError as exc:
            log.write_line(f"✗ {exc}")
            return
        self.busy = True
        self.query_one("#export", Button).disabled = True
        log.write_line(f"exporting {plan.checkpoint} as {plan.route} → {plan.out}")
        self.export(plan)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="export an adapter")
    def export(self, plan: ExportPlan) -> None:
        from farense_tui.engine.export.run import run_export

        try:
            result = run_export(plan, progress=lambda line: self.post_message(ExportProgressed(line)))
            self.post_message(ExportFinished(result.path, result.check, result.command))
        except UserError as exc:
            self.post_message(ExportFinished(None, error=str(exc)))
        except Exception as exc:  # the cockpit must survive a failed export; staging left nothing
            self.post_message(ExportFinished(None, error=f"{type(exc).__name__}: {exc}"))
        finally:
            release_mlx_streams()

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
