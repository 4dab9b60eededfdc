"""The cockpit App: five screens as modes (modes.py), the active run, and the services that
outlive a screen.

The App owns the state every screen shows — the active run's `RunStatus`, its `MetricHistory`,
the runs compared on the Monitor and the detected hardware — and fans it out through Signals,
because a screen of an inactive mode cannot be queried; screens read it through the typed
`CockpitApp` (cockpit.py). It also owns four services (services/), declared in `__init__`: the
watcher that follows the active run in a thread worker, the run commands, the chat model and
the adapter server; keys and palette commands delegate to them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.machine import hardware as hw
from farense_tui.engine.runs import commands
from farense_tui.engine.runs.cost import price_from_env
from farense_tui.engine.runs.history import MetricHistory
from farense_tui.engine.runs.launch import describe_ranks
from farense_tui.engine.runs.overlay import Comparison, events_size, load_history
from farense_tui.engine.runs.run_folder import RunFolder
from farense_tui.engine.runs.status import ENDED, RunStatus, describe_recovery
from farense_tui.tui import modes
from farense_tui.tui.dialogs.prompts import quit_dialog
from farense_tui.tui.long_lived import keep_long_lived
from farense_tui.tui.messages import (
    CompareRunLoaded,
    GroupRunStarted,
    HardwareDetected,
    RunEventsArrived,
    RunLivenessChanged,
    RunsListed,
)
from farense_tui.tui.palette import cockpit_commands
from farense_tui.tui.services.chat_session import ChatSession
from farense_tui.tui.services.run_control import RunControl
from farense_tui.tui.services.run_watcher import RunWatcher
from farense_tui.tui.services.serve_session import ServeSession
from farense_tui.tui.textual_patches import PatchedApp

GB = 1024**3


class FarenseApp(PatchedApp, App[int]):
    """farense-tui: configure, train, monitor and chat with LoRA fine-tunes of MLX models."""

    TITLE = "farense-tui"
    CSS_PATH = "app.tcss"
    MODES = modes.screen_factories()
    DEFAULT_MODE = "config"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        *(
            Binding(str(n), f"switch_mode('{mode.name}')", mode.label, show=False)
            for n, mode in enumerate(modes.MODES, 1)
        ),
        # F1–F4 work even while typing in a text box, where 1–4 are text;
        # F5 stays "refresh the list".
        *(
            Binding(f"f{n}", f"switch_mode('{mode.name}')", mode.label, show=False, priority=True)
            for n, mode in enumerate(modes.MODES[:4], 1)
        ),
        Binding("escape", "leave_input", "Leave the text box", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, *, attach_live: bool = True, detect_hardware: bool = True) -> None:
        super().__init__()
        self.run_status = RunStatus()
        self.history = MetricHistory()
        self.comparison = Comparison()  # runs marked on Training, overlaid on the Monitor
        try:
            self.price_per_hour, self.price_problem = price_from_env(), ""
        except UserError as exc:  # said once the App runs; costs are shown without money
            self.price_per_hour, self.price_problem = None, str(exc)
        self.hardware: hw.Hardware | None = None
        self.farewell = ""  # printed to the terminal after the App exits
        self.attach_live, self.detect_hardware = attach_live, detect_hardware
        self.asking_to_quit = False
        self.run_changed: Signal[RunStatus] = Signal(self, "run-changed")
        self.hardware_changed: Signal[hw.Hardware] = Signal(self, "hardware-changed")
        # The services: each outlives the screens; the chat model starts with its first load.
        self.watcher: RunWatcher = RunWatcher(self)
        self.control: RunControl = RunControl(self)
        self.chat: ChatSession = ChatSession()
        self.serving = (
            ServeSession()
        )  # mlx-lm's server for an adapter, started from the Chat screen
        self._first_frame_waiting: list[Callable[[], object]] | None = []  # None once it is drawn

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run `callback` once the first frame is on the terminal (now, if it is already): what
        the first look does not need waits, so the cockpit shows up within 1 s."""
        if self._first_frame_waiting is None:
            self.screen.call_after_refresh(callback)
        else:
            self._first_frame_waiting.append(callback)

    def on_ready(self) -> None:
        # Textual's Ready comes once the start-up batch is over; the frame it held is drawn next.
        waiting, self._first_frame_waiting = self._first_frame_waiting or [], None
        for callback in waiting:
            self.screen.call_after_refresh(callback)

    def switch_mode(self, mode: str):
        if not self.has_shown(mode):  # a first visit: what it makes lives as long as the App
            keep_long_lived(self)
        return super().switch_mode(mode)

    @property
    def total_ram_gb(self) -> float:
        if self.hardware:
            return self.hardware.ram_total_gb
        import psutil  # not before the first frame: the hardware (and psutil) come just after it

        return psutil.virtual_memory().total / GB

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity="information",
        timeout=None,
        markup: bool = True,
    ) -> None:
        """Notifications carry run names, engine messages and errors: shown as text, never as
        markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # ---- services ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.price_problem:
            self.notify(self.price_problem, severity="warning", timeout=10)
        if self.detect_hardware:
            self.after_first_frame(self.measure_hardware)
        if self.attach_live:
            self.after_first_frame(self.find_runs)
        self.after_first_frame(partial(keep_long_lived, self))

    def on_unmount(self) -> None:
        self.watcher.close()
        self.chat.close()
        self.serving.close()

    @work(
        thread=True,
        exclusive=True,
        group="hardware",
        exit_on_error=False,
        description="detect the hardware",
    )
    def measure_hardware(self) -> None:
        self.post_message(HardwareDetected(hw.detect()))

    @work(
        thread=True,
        exclusive=True,
        group="startup",
        exit_on_error=False,
        description="list runs at start",
    )
    def find_runs(self) -> None:
        self.post_message(RunsListed(runs.list_runs()))

    @on(HardwareDetected)
    def keep_hardware(self, message: HardwareDetected) -> None:
        self.hardware = message.hardware
        self.hardware_changed.publish(message.hardware)

    @on(RunsListed)
    def attach_at_start(self, message: RunsListed) -> None:
        """At start: attach to the newest run still training (from an earlier session or the CLI),
        else to the newest run, so its numbers and charts are there to look at."""
        if self.run_status.run_dir is not None or not message.runs:
            return
        live = [r for r in message.runs if r.alive]
        if live:
            self.attach(live[0].path)
            self.switch_mode("training")
            self.notify(f"Attached to {live[0].run_id}, still running in the background")
            return
        newest = message.runs[0]
        self.attach(newest.path)
        if newest.status == "dead":
            self.notify(
                f"Run {newest.run_id} stopped unexpectedly: resume it on Training (2)",
                severity="warning",
                timeout=8,
            )

    # ---- the active run -----------------------------------------------------------------------
    def attach(self, run_dir: Path) -> None:
        """Make `run_dir` the active run and follow its events from the start of the file."""
        try:
            cfg = RunFolder(run_dir).load_config()
            model, profile, budget = cfg.model, cfg.profile.name, cfg.profile.memory_budget_gb
            placement = describe_ranks(cfg.ranks, cfg.hosts, cfg.backend)
            log_every, iters, parent = cfg.profile.log_every, cfg.profile.iters, cfg.parent
        except (UserError, KeyError) as exc:
            self.notify(f"Cannot attach to {run_dir.name}: {exc}", severity="error")
            return
        self.run_status = RunStatus(
            run_dir=run_dir,
            model=model,
            profile=profile,
            placement=placement,
            budget_gb=budget,
            log_every=log_every,
            total_steps=iters,
            parent=parent,
        )
        self.history.reset(run_dir, budget, self.total_ram_gb)
        self.comparison.active = run_dir
        self.comparison.version += 1
        self.watcher.watch(run_dir)
        self.run_changed.publish(self.run_status)

    # ---- runs compared on the Monitor ----------------------------------------------------------
    def toggle_compare(self, run_dir: Path) -> bool:
        """Mark `run_dir` for the Monitor's overlay (its curves read in a worker), or unmark it."""
        marked = self.comparison.toggle(run_dir)
        if marked:
            self.load_compared(run_dir)
        return marked

    @work(
        thread=True,
        group="compare",
        exit_on_error=False,
        description="read a compared run's events",
    )
    def load_compared(self, run_dir: Path) -> None:
        size = events_size(run_dir)  # before reading: lines added meanwhile make it stale
        self.post_message(CompareRunLoaded(run_dir, load_history(run_dir), size))

    def refresh_compared(self) -> None:
        """Read again the marked runs whose events grew (the Monitor asks when it shows them)."""
        for run_dir in self.comparison.stale():
            self.load_compared(run_dir)

    @on(CompareRunLoaded)
    def keep_compared(self, message: CompareRunLoaded) -> None:
        self.comparison.loaded_history(message.run_dir, message.history, message.size)

    @on(RunEventsArrived)
    def absorb_run_events(self, message: RunEventsArrived) -> None:
        status = self.run_status
        if message.run_dir != status.run_dir:
            return  # a late batch from the previous run's watcher
        live = status.events_seen > 0  # the first batch is the run's history, not news
        notable = status.add_events(message.events)
        try:
            self.history.add_events(message.events)
        except Exception as exc:  # a chart's bookkeeping must not take the cockpit down
            self.log.error(f"MetricHistory.add_events failed: {exc!r}")
            self.notify(f"The charts could not take these events: {exc}", severity="error")
        if live:
            for event in notable:
                self.announce(event)
        self.run_changed.publish(status)

    def announce(self, event: dict) -> None:
        """Toasts for what must not be missed: recoveries, errors, the end of the run."""
        kind = event["type"]
        if kind == "recovery":
            self.notify(describe_recovery(event), title="Recovered", severity="warning", timeout=12)
        elif kind == "error":
            self.notify(
                event.get("message", ""), title=f"Run error ({event.get('kind')})", severity="error"
            )
        elif kind == "finished":
            best = event.get("best_val_loss")
            self.notify(
                f"Best validation loss {best:.4f}" if best is not None else "No validation loss",
                title="Run finished",
            )

    @on(RunLivenessChanged)
    def note_liveness(self, message: RunLivenessChanged) -> None:
        status = self.run_status
        if message.run_dir != status.run_dir:
            return
        was_alive, status.alive = status.alive, message.alive
        if was_alive and not message.alive and status.status == "dead":
            self.notify(
                f"The engine of {status.run_id} is gone without a final state. "
                "Resume it from its last checkpoint on Training.",
                severity="error",
                timeout=12,
            )
        if was_alive and not message.alive:
            self.watcher.await_group_next(status.run_dir)
        self.run_changed.publish(status)

    @on(GroupRunStarted)
    def follow_the_group(self, message: GroupRunStarted) -> None:
        if (
            self.run_status.run_dir == message.previous
        ):  # unless the user attached elsewhere meanwhile
            self.attach(message.run_dir)
            self.notify(
                f"{message.previous.name} ended; its group goes on with {message.run_dir.name}",
                title="Next run of the group",
            )

    @on(Worker.StateChanged)
    def report_worker_failure(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            worker = event.worker
            self.notify(
                f"{worker.description} failed: {worker.error}", severity="error", timeout=10
            )

    # ---- run commands (keys, palette and screens reach them here) -----------------------------
    def action_toggle_pause(self) -> None:
        """Pause the active run, or continue it when paused."""
        self.control.toggle_pause()

    def action_stop_run(self) -> None:
        """Checkpoint the active run and stop it (resume it any time)."""
        self.control.stop()

    def action_save_run(self) -> None:
        """Write a checkpoint of the active run now, and keep training."""
        self.control.save()

    def action_switch_profile(self) -> None:
        """Checkpoint the active run and restart it with another profile (same effective batch)."""
        self.control.switch_profile()

    def offer_resume(self, run_dir: Path) -> None:
        """Ask how to continue a stopped, failed or dead run: smaller, as is, or leave it."""
        self.control.offer_resume(run_dir)

    # ---- screens ------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action in the palette: modes, run control, and the current screen's keys."""
        yield from super().get_system_commands(screen)
        yield from cockpit_commands(self, screen)

    def action_leave_input(self) -> None:
        """Escape from a text box, so that 1–5, q and the screen's keys work again."""
        if isinstance(self.focused, (Input, TextArea)):
            self.screen.set_focus(None)

    # ---- quitting -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; with a live run, ask first: stop and save, leave it running, or cancel."""
        status = self.run_status
        if not (status.alive and status.status not in ENDED):
            self.exit(0)
            return

        def chosen(answer: str | None) -> None:
            self.asking_to_quit = False
            if answer == "stop":
                commands.send(status.run_dir, "stop")
                self.farewell = (
                    f"Run {status.run_id} is saving a checkpoint and stopping; resume it any time."
                )
                self.exit(0)
            elif answer == "leave":
                self.farewell = (
                    f"Run {status.run_id} keeps training in the background. "
                    "Run farense-tui again to attach to it."
                )
                self.exit(0)

        if not self.asking_to_quit:
            self.asking_to_quit = True
            self.push_screen(quit_dialog(status.run_id), chosen)


def create_app(**options) -> FarenseApp:
    """The App as the CLI runs it; tests build theirs here too, with options to stay hermetic."""
    return FarenseApp(**options)


def run_app() -> int:
    app = create_app()
    code = app.run()
    if app.farewell:
        print(app.farewell)
    return int(code or 0)
