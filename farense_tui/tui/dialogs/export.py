"""The Export dialog: pick a route and a checkpoint of one run, start the export job, follow it.

The plan (no MLX) is made on the UI thread, so a refusal (existing output, no adapter) shows at
once; the export is the engine's job (engine/export/job.py): a process of its own, as training
and evaluation are, whose events a thread worker follows with `follow` and posts as messages.
Cancel asks the job to stop at its next step; staging means nothing is ever left half-written.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Label, Log, Select
from textual.worker import get_current_worker

from farense_tui.engine.errors import UserError
from farense_tui.engine.export import job as export_job
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.routes import ROUTES
from farense_tui.engine.runs.event_types import State
from farense_tui.engine.runs.follow import follow
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.tui.dialogs.prompts import DIALOG_CSS
from farense_tui.tui.messages import ExportFinished, ExportProgressed


class ExportDialog(ModalScreen[None]):
    """Export one run's adapter: fused, GGUF, PEFT or Ollama; each step is logged as it starts."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+x", "cancel", "Cancel the export"),
    ]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ExportDialog")
        + """
    ExportDialog Select { width: 1fr; margin-bottom: 1; }
    ExportDialog Log { height: 8; border: round $panel; margin-bottom: 1; }
    """
    )

    def __init__(self, run_dir: Path, checkpoint: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.checkpoints = RunFolder(run_dir).adapter_choices()
        self.checkpoint = (
            checkpoint if checkpoint in self.checkpoints else (self.checkpoints or [None])[0]
        )
        self.job: export_job.ExportJob | None = None  # the export running, while it runs

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export {self.run_dir.name}", classes="title", markup=False)
            yield Select(
                [(f"{name} — {route.help}", name) for name, route in ROUTES.items()],
                value="fused",
                allow_blank=False,
                id="route",
                compact=True,
            )
            yield Select(
                [(c if not c.isdigit() else f"step {c}", c) for c in self.checkpoints],
                value=self.checkpoint or Select.BLANK,
                prompt="no adapter yet",
                id="checkpoint",
                compact=True,
            )
            yield Checkbox(
                "keep quantized (fused: the base's quantization; refused if answers change)",
                id="keep-quantized",
                compact=True,
            )
            yield Checkbox("replace an existing export (--force)", id="force", compact=True)
            yield Log(id="export-log", auto_scroll=True)
            with Horizontal():
                yield Button("Export", id="export", variant="primary", compact=True)
                yield Button("Cancel export", id="cancel", compact=True, disabled=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#route").focus()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def action_close(self) -> None:
        if self.busy:
            self.notify(
                "An export is running: ctrl+x cancels it (nothing is left half-written)",
                severity="warning",
            )
            return
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def close_pressed(self) -> None:
        self.action_close()

    def action_cancel(self) -> None:
        if self.job is None:
            return
        export_job.cancel(self.job)
        self.query_one("#cancel", Button).disabled = True
        self.query_one(Log).write_line("cancelling at the export's next step…")

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#export")
    def start_export(self) -> None:
        log = self.query_one(Log)
        checkpoint = self.query_one("#checkpoint", Select).value
        try:
            if checkpoint is Select.BLANK:
                raise UserError(f"run {self.run_dir.name} has no adapter yet: train it first")
            plan = plan_export(
                self.run_dir,
                str(self.query_one("#route", Select).value),
                str(checkpoint),
                keep_quantized=self.query_one("#keep-quantized", Checkbox).value,
                force=self.query_one("#force", Checkbox).value,
            )
            self.job = export_job.start(plan)
        except UserError as exc:
            log.write_line(f"✗ {exc}")
            return
        self.query_one("#export", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.follow_export(self.job)

    @work(
        thread=True,
        exclusive=True,
        group="export",
        exit_on_error=False,
        description="follow an export",
    )
    def follow_export(self, job: export_job.ExportJob) -> None:
        worker = get_current_worker()
        said: dict[str, dict] = {}  # the job's last export, error and state events

        def arrived(events: list[dict]) -> None:
            for event in events:
                if event["type"] == "progress":
                    self.post_message(ExportProgressed(event.get("message", "")))
                elif event["type"] in ("export", "error", "state"):
                    said[event["type"]] = event

        follow(
            job.folder,
            arrived,
            lambda: worker.is_cancelled,
            is_alive=export_job.is_alive,
            until_ended=True,
        )
        if worker.is_cancelled:
            return
        done, state = said.get("export"), said.get("state", {})
        if done is not None and state.get("state") == State.FINISHED:
            self.post_message(ExportFinished(Path(done["path"]), done["check"], done["command"]))
        else:
            error = said.get("error", state).get("message") or (
                f"the export ended without a word; see {job.log}"
            )
            self.post_message(ExportFinished(None, error=error))

    @on(ExportProgressed)
    def log_step(self, message: ExportProgressed) -> None:
        self.query_one(Log).write_line(f"· {message.line}")

    @on(ExportFinished)
    def show_result(self, message: ExportFinished) -> None:
        self.job = None
        self.query_one("#export", Button).disabled = False
        self.query_one("#cancel", Button).disabled = True
        log = self.query_one(Log)
        if message.error:
            log.write_line(f"✗ {message.error}")
            return
        log.write_line(f"✓ {message.check}")
        if message.command:
            log.write_line(f"next: {message.command}")
        self.notify(f"Exported to {message.path}")
