"""Evaluate: score a run's adapter against its base model on the test split, in its own process.

The evaluation is the engine's (engine/evaluate/): a detached process, followed here by `follow`
in a thread worker that posts its events as messages; cancel asks the process to stop. The
table shows base vs adapter with the difference, the list below each example's question,
reference, answer and scores — model output shown literally, never as markup.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Checkbox, DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.evaluate import job as jobs
from farense_tui.engine.evaluate.job import EvalJob, EvalSettings
from farense_tui.engine.evaluate.report import cost_line, heading, table_rows
from farense_tui.engine.runs.follow import follow
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.tui.chat_text import literal_text
from farense_tui.tui.messages import EvalEnded, EvalEventsArrived, EvalTargetsListed
from farense_tui.tui.widgets.chrome import CockpitScreen, chrome
from farense_tui.tui.widgets.key_bar import KeyBar

GROUP = "evaluate"
ANSWER_COLUMNS = (
    ("#", 3),
    ("EM", 2),
    ("F1", 4),
    ("question", 22),
    ("reference", 18),
    ("answer", 18),
)
METRIC_COLUMNS = (("", 11), ("base", 16), ("adapter", 16), ("adapter − base", 14))
"""Fixed widths: a DataTable sizes its columns to their cells only when next idle, and a frame drawn
before that kept its header at the widths of an empty table (seen under load)."""


class EvaluateScreen(CockpitScreen):
    """Pick a run's adapter, evaluate it on the test split, read the table and every answer."""

    CSS_PATH = "../styles/evaluate.tcss"
    BINDINGS = [
        Binding(
            "ctrl+s", "start", "Start", tooltip="Evaluate the chosen adapter on the test split"
        ),
        Binding("ctrl+x", "cancel", "Cancel", tooltip="Stop the evaluation; it writes no result"),
        Binding(
            "ctrl+o",
            "only_misses",
            "Misses",
            tooltip="Show only the answers that are not exact matches",
        ),
        Binding(
            "ctrl+b",
            "other_side",
            "Base/adapter",
            tooltip="Show the base model's answers or the adapter's",
        ),
        Binding("f5", "refresh_targets", "Refresh list"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, tuple[Path, str]] = {}
        self.job: EvalJob | None = None  # the evaluation running, or shown
        self.running = False
        self.answers: list[dict] = []
        self.shown_rows: list[dict] = []  # the answers in the table, in its order
        self.misses_only = False
        self.side = "adapter"

    def compose(self) -> ComposeResult:
        yield from chrome()
        with Horizontal(id="pick"):
            yield Select([], prompt="listing runs…", id="target", compact=True)
            yield Checkbox(
                "base too",
                True,
                id="with_base",
                compact=True,
                tooltip="also answer every example with the base model, for the comparison",
            )
            yield Label("max")
            yield Input(
                "64", id="max_tokens", type="integer", compact=True, tooltip="tokens per answer"
            )
        yield ProgressBar(id="progress", show_eta=False)
        yield Static("choose an adapter, then ctrl+s", id="status", markup=False)
        yield DataTable(id="metrics", cursor_type="none", zebra_stripes=True)
        yield DataTable(id="answers", cursor_type="row", zebra_stripes=True)
        yield Static(id="example")
        yield KeyBar()

    def on_mount(self) -> None:
        metrics = self.query_one("#metrics", DataTable)
        for label, width in METRIC_COLUMNS:
            metrics.add_column(label, width=width)
        answers = self.query_one("#answers", DataTable)
        for label, width in ANSWER_COLUMNS:
            answers.add_column(label, width=width)
        self.query_one("#progress", ProgressBar).update(total=1, progress=0)  # still, until a start
        self.action_refresh_targets()

    def on_screen_resume(self) -> None:
        if self.targets and not self.running:
            self.action_refresh_targets()

    # -- choosing --------------------------------------------------------------------------------
    def action_refresh_targets(self) -> None:
        self.list_targets()

    @work(
        thread=True,
        exclusive=True,
        group="eval-targets",
        exit_on_error=False,
        description="list run adapters",
    )
    def list_targets(self) -> None:
        choices = []
        for run in runs.list_runs():
            for which in RunFolder(run.path).adapter_choices():
                name = f"step {which}" if which.isdigit() else which
                choices.append((f"{run.run_id} · {name}", (run.path, which)))
        self.post_message(EvalTargetsListed(choices))

    @on(EvalTargetsListed)
    def offer_targets(self, message: EvalTargetsListed) -> None:
        select = self.query_one("#target", Select)
        current = select.value
        self.targets = {f"{path}:{which}": (path, which) for _, (path, which) in message.choices}
        select.prompt = (
            "choose a run's adapter" if self.targets else "no adapters yet — train a run first"
        )
        select.set_options([(label, f"{path}:{which}") for label, (path, which) in message.choices])
        if current in self.targets:
            select.value = current
        elif self.targets:
            select.focus()  # the first thing to do here is to choose

    @on(Select.Changed, "#target")
    def show_saved_result(self, event: Select.Changed) -> None:
        """An adapter evaluated before shows its last result at once."""
        if event.value is Select.BLANK or self.running or event.value not in self.targets:
            return
        run_dir, which = self.targets[event.value]
        job = EvalJob(run_dir, EvalSettings(str(run_dir), which).name)
        result = job.result()
        self.job = job
        if result is not None:
            self.show_result(result, job.answers())
            self.set_status(f"last evaluated {result.get('finished', '')}; ctrl+s evaluates again")
        else:
            self.clear_tables()
            self.set_status("not evaluated yet; ctrl+s starts")

    # -- running -----------------------------------------------------------------------------------
    def action_start(self) -> None:
        value = self.query_one("#target", Select).value
        if self.running:
            self.notify("an evaluation is already running; ctrl+x cancels it", severity="warning")
            return
        if value not in self.targets:
            self.notify("choose a run's adapter first", severity="warning")
            return
        raw = self.query_one("#max_tokens", Input).value.strip()
        if not raw.isdigit() or int(raw) < 1:
            self.notify(f"max tokens: {raw!r} is not a whole number from 1", severity="error")
            return
        run_dir, which = self.targets[value]
        settings = EvalSettings(
            str(run_dir),
            which,
            base=self.query_one("#with_base", Checkbox).value,
            max_tokens=int(raw),
        )
        self.job, self.running = EvalJob(run_dir, settings.name), True
        self.clear_tables()
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self.set_status(f"starting the evaluation of {run_dir.name} · {which}…")
        self.evaluate(settings)

    def action_cancel(self) -> None:
        if not self.running or self.job is None:
            self.notify("no evaluation is running", severity="warning")
            return
        jobs.cancel(self.job)
        self.set_status("cancelling after the answer in progress…")

    @work(
        thread=True,
        exclusive=True,
        group=GROUP,
        exit_on_error=False,
        description="run an evaluation",
    )
    def evaluate(self, settings: EvalSettings) -> None:
        """Start the evaluation's process and follow its events until it ends."""
        try:
            job = jobs.start(settings)
        except UserError as exc:
            self.post_message(EvalEnded(Path(settings.run_dir), None, [], str(exc)))
            return
        worker, last = get_current_worker(), {}

        def arrived(events: list[dict]) -> None:
            last.update(next((e for e in reversed(events) if e["type"] == "state"), {}))
            self.post_message(EvalEventsArrived(job.folder, events))

        follow(
            job.folder,
            arrived,
            lambda: worker.is_cancelled,
            is_alive=jobs.is_alive,
            until_ended=True,
        )
        if worker.is_cancelled:
            return
        finished = last.get("state") == "finished"
        self.post_message(
            EvalEnded(
                job.folder,
                job.result() if finished else None,
                job.answers() if finished else [],
                last.get(
                    "message", f"the evaluation ended without a word; see {job.folder / 'eval.log'}"
                ),
            )
        )

    @on(EvalEventsArrived)
    def show_progress(self, message: EvalEventsArrived) -> None:
        for event in message.events:
            if event["type"] == "progress":
                self.query_one("#progress", ProgressBar).update(
                    total=event["total"], progress=event["done"]
                )
                what = "answers" if event["phase"] == "answers" else "loss passes"
                eta = (
                    f", about {event['eta_sec']:.0f} s left"
                    if event.get("eta_sec") is not None
                    else ""
                )
                self.set_status(f"{what} {event['done']}/{event['total']}{eta} — ctrl+x cancels")
            elif event["type"] in ("state", "error"):
                self.set_status(event.get("message", ""))

    @on(EvalEnded)
    def show_end(self, message: EvalEnded) -> None:
        self.running = False
        if message.result is None:
            self.query_one("#progress", ProgressBar).update(
                total=1, progress=0
            )  # not left spinning
            self.set_status(message.message)
            return
        self.show_result(message.result, message.answers)
        note = message.result.get("note")
        self.set_status(f"done: {cost_line(message.result)}" + (f" · {note}" if note else ""))

    # -- showing -----------------------------------------------------------------------------------
    def show_result(self, result: dict, answers: list[dict]) -> None:
        table = self.query_one("#metrics", DataTable)
        table.clear()
        for row in table_rows(result):
            table.add_row(*row)
        table.border_title = heading(result)
        self.query_one("#progress", ProgressBar).update(
            total=1, progress=1
        )  # a result is a whole evaluation
        self.answers = answers
        self.show_answers()

    def show_answers(self) -> None:
        table = self.query_one("#answers", DataTable)
        table.clear()
        rows = [
            a
            for a in self.answers
            if a["side"] == self.side and not (self.misses_only and a["exact_match"])
        ]
        self.shown_rows = rows
        self.show_example(0)
        for a in rows:
            table.add_row(
                str(a["index"] + 1),
                f"{a['exact_match']:.0f}",
                f"{a['token_f1']:.2f}",
                literal_text(a["question"]),
                literal_text(a["reference"]),
                literal_text(a["answer"]),
            )
        shown = "misses" if self.misses_only else "answers"
        table.border_title = f"{self.side} {shown}: {len(rows)}"

    @on(DataTable.RowHighlighted, "#answers")
    def follow_cursor(self, event: DataTable.RowHighlighted) -> None:
        self.show_example(event.cursor_row)

    def show_example(self, row: int) -> None:
        """The highlighted example in full below the table: question, reference, answer, scores."""
        if not 0 <= row < len(self.shown_rows):
            self.query_one("#example", Static).update("")
            return
        a = self.shown_rows[row]
        text = Text.assemble(
            ("question  ", "bold"),
            literal_text(a["question"]),
            "\n",
            ("reference ", "bold"),
            literal_text(a["reference"]),
            "\n",
            (f"{a['side']:<10}", "bold"),
            literal_text(a["answer"]),
            "\n",
            (
                f"exact match {a['exact_match']:.0f} · token F1 {a['token_f1']:.3f} · ROUGE-L "
                f"{a['rouge_l']:.3f}",
                "dim",
            ),
        )
        self.query_one("#example", Static).update(text)

    def clear_tables(self) -> None:
        self.query_one("#metrics", DataTable).clear()
        self.answers = []
        self.show_answers()

    def action_only_misses(self) -> None:
        self.misses_only = not self.misses_only
        self.show_answers()

    def action_other_side(self) -> None:
        self.side = "base" if self.side == "adapter" else "adapter"
        self.show_answers()

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text))
