"""Training: the active run's progress and cost, its event log, and every run in runs/ to attach
to, resume or mark for comparison on the Monitor.

Run commands (pause, stop, save, switch profile, resume) are the App's (services/run_control.py):
this screen binds the keys, shows the App's `RunStatus` as it changes, and lists runs in a worker.
While another mode is shown it only remembers the newest status and draws it on its return.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable

from farense_tui.engine import runs
from farense_tui.engine.runs.status import ENDED, RunStatus
from farense_tui.tui.dialogs.export import ExportDialog
from farense_tui.tui.messages import RunsListed
from farense_tui.tui.widgets.chrome import CockpitScreen, chrome
from farense_tui.tui.widgets.event_log import EventLog
from farense_tui.tui.widgets.key_bar import KeyBar
from farense_tui.tui.widgets.progress_panel import ProgressPanel
from farense_tui.tui.widgets.runs_table import RunsTable

LIST_EVERY = 3.0  # seconds between listings of runs/ while this screen is shown


class TrainingScreen(CockpitScreen):
    """Watch and steer the active run; pick another run below to attach to or resume."""

    CSS_PATH = "../styles/training.tcss"
    BINDINGS = [
        Binding("p", "app.toggle_pause", "Pause", tooltip="Pause the active run, or continue it"),
        Binding("s", "app.stop_run", "Stop", tooltip="Checkpoint the active run and stop it"),
        Binding("w", "app.save_run", "Save", tooltip="Write a checkpoint now and keep training"),
        Binding(
            "m",
            "app.switch_profile",
            "Profile",
            tooltip="Restart the active run with another profile",
        ),
        Binding("a", "attach", "Attach", tooltip="Watch the run selected in the table"),
        Binding(
            "r", "resume", "Resume", tooltip="Resume the selected run from its last checkpoint"
        ),
        Binding(
            "c",
            "compare",
            "Compare",
            tooltip="Mark or unmark the selected run for the Monitor's overlay (c there)",
        ),
        Binding(
            "x",
            "export",
            "Export",
            tooltip="Export the selected run's adapter: fused, GGUF, PEFT, Ollama",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.shown: RunStatus | None = None  # the status object whose log is in the EventLog
        self.logged = 0  # how many of its notable events the EventLog shows
        self.offered: tuple | None = None  # the dead/failed situation already offered a resume for
        self.latest: RunStatus | None = None  # the newest status, drawn when this screen is shown

    def compose(self) -> ComposeResult:
        yield from chrome()
        yield ProgressPanel(id="progress")
        with Vertical(id="training-lower"):
            yield EventLog(id="events")
            yield RunsTable(id="runs")
        yield KeyBar()

    def on_mount(self) -> None:
        self.cockpit.run_changed.subscribe(self, self.status_changed)
        self.show_status(self.cockpit.run_status)
        self.set_interval(1.0, self.tick)
        self.set_interval(LIST_EVERY, self.list_runs)
        self.list_runs()

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self.catch_up)  # the switch's frame first, then what changed
        self.list_runs()

    def tick(self) -> None:
        """Elapsed time moves on between events."""
        s = self.shown
        if self.is_active and s is not None and s.alive and s.status not in ENDED:
            self.query_one(ProgressPanel).show(s, self.cockpit.price_per_hour)

    # ---- the active run -----------------------------------------------------------------------
    def status_changed(self, status: RunStatus) -> None:
        """The App's signal: draw now if on top, else when this screen is back on top."""
        self.latest = status
        if self.is_active:
            self.catch_up()

    def catch_up(self) -> None:
        if self.latest is not None:
            self.show_status(self.latest)  # offers a resume when needed
        else:
            self.offer_if_needed()

    def show_status(self, status: RunStatus) -> None:
        self.latest = None
        log = self.query_one(EventLog)
        if status is not self.shown:  # attached to another run (or re-attached): replay its log
            log.clear()
            self.shown, self.logged = status, status.notable_count - len(status.log)
        new = status.notable_count - self.logged
        for event in list(status.log)[-new:] if new > 0 else ():
            log.add(event)
        self.logged = status.notable_count
        self.query_one(ProgressPanel).show(status, self.cockpit.price_per_hour)
        self.offer_if_needed()

    def offer_if_needed(self) -> None:
        """A dead run, or one failed in a way smaller settings may fix: ask once what to do."""
        s = self.shown
        if s is None or not s.needs_choice or self.app.screen is not self:
            return
        situation = (s.run_dir, s.status, s.events_seen)
        if situation != self.offered:
            self.offered = situation
            self.cockpit.offer_resume(s.run_dir)

    # ---- runs/ --------------------------------------------------------------------------------
    def list_runs(self) -> None:
        if self.app.screen is self:
            self.read_runs()

    @work(
        thread=True,
        exclusive=True,
        group="list-runs",
        exit_on_error=False,
        description="list runs/",
    )
    def read_runs(self) -> None:
        self.post_message(RunsListed(runs.list_runs()))

    @on(RunsListed)
    def show_runs(self, message: RunsListed) -> None:
        message.stop()  # the App's own RunsListed handler is for the listing at start only
        self.query_one(RunsTable).show_runs(message.runs, self.marks())

    def marks(self) -> dict[str, tuple[int, int, int]]:
        comparison = self.cockpit.comparison
        return {str(path): comparison.colour(path.name) for path in comparison.marked}

    def selected_run(self):
        table = self.query_one(RunsTable)
        path = table.selected
        if path is None:
            self.notify("No run selected: the table is empty", severity="warning")
        return path

    def action_attach(self) -> None:
        """Make the selected run the active one (its whole history is read first)."""
        if (path := self.selected_run()) is not None:
            self.cockpit.attach(path)
            self.notify(f"Attached to {path.name}")

    @on(DataTable.RowSelected, "#runs")
    def attach_on_enter(self) -> None:
        self.action_attach()

    def action_compare(self) -> None:
        """Mark the selected run for comparison on the Monitor, or unmark it."""
        if (path := self.selected_run()) is None:
            return
        table = self.query_one(RunsTable)
        marked = self.cockpit.toggle_compare(path)
        table.show_runs(list(table.infos.values()), self.marks())
        if marked:
            self.notify(f"{path.name} marked: Monitor (3), c overlays the marked runs")

    def action_resume(self) -> None:
        """Resume the selected run (dead, failed or stopped) from its last checkpoint."""
        if (path := self.selected_run()) is not None:
            self.cockpit.offer_resume(path)

    def action_export(self) -> None:
        """The Export dialog for the selected run."""
        if (path := self.selected_run()) is not None:
            self.app.push_screen(ExportDialog(path))
