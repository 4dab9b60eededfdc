"""Config: the machine, the profile chosen for it (and why), every setting, model, data, and Start.

Nothing slow runs on the UI thread: the data check (tokenizer load + token counts) and the model
preparation (the demo model's first download) run in thread workers that post messages back.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Select, Static

from farense_tui.engine import paths
from farense_tui.engine.data import check as datacheck
from farense_tui.engine.data.cost import cost_lines, data_cost
from farense_tui.engine.data.token_view import token_views
from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.hardware import Hardware
from farense_tui.engine.models import local as models
from farense_tui.engine.profiles.choice import choose_profile
from farense_tui.engine.profiles.profile import Profile, available_profiles, save_profile
from farense_tui.engine.runs.event_types import ENDED
from farense_tui.engine.runs.launch import BACKENDS, describe_ranks, ranks_setting
from farense_tui.engine.runs.lineage import parent_and_model
from farense_tui.engine.runs.plan import plan_run, start_plan
from farense_tui.engine.runs.speed import MeasuredSpeed, measured_speed
from farense_tui.tui.config_choices import DEMO, home_path, model_options
from farense_tui.tui.data_summary import summary_lines
from farense_tui.tui.dialogs.prompts import ChoiceDialog, NamePrompt
from farense_tui.tui.long_lived import keep_long_lived
from farense_tui.tui.messages import DataChecked, ModelProgressed, RunStarted, RunStartFailed
from farense_tui.tui.widgets.chrome import CockpitScreen, chrome
from farense_tui.tui.widgets.field_editor import FieldEditor
from farense_tui.tui.widgets.from_run import FromRunField
from farense_tui.tui.widgets.key_bar import KeyBar
from farense_tui.tui.widgets.token_panel import TokenPanel

CHECK_DELAY = 0.4  # s after the last change before the data is checked again
HARDWARE_WAIT = 3.0  # s the first check waits for the hardware (and profile choice) at most
RANKS_HINT = "1: this machine alone; N: N ranks here; a hostfile: one rank per Mac"


class ConfigScreen(CockpitScreen):
    """Choose what to train and how; Start creates the run and switches to Training."""

    CSS_PATH = "../styles/config.tcss"
    BINDINGS = [
        Binding("ctrl+s", "start", "Start", priority=True),
        Binding("ctrl+o", "save_profile", "Save as profile"),
        Binding("ctrl+r", "recheck(True)", "Check data"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[str, Profile] = {}
        self.profile: Profile | None = None  # the chosen profile with the edits applied
        self.errors: dict[str, str] = {}
        self.auto_reason = ""
        self.auto_name = ""
        self.report: datacheck.DataReport | None = None
        self.report_key: tuple | None = None
        self.speed: MeasuredSpeed | None = (
            None  # this model's measured speed, from its earlier runs
        )
        self.tokenizers: dict[str, object] = {}  # loaded once per model folder (seconds each)
        self.tokenizers_kept = 0  # how many of them the App has been told to keep
        self.ranks, self.hosts, self.ranks_error = 1, "", ""  # the Ranks field as last checked

    def compose(self) -> ComposeResult:
        self.profiles = available_profiles()
        first = next(iter(self.profiles.values()), Profile())
        self.profile = first
        options = model_options()
        yield from chrome()
        with VerticalScroll(id="config-body"):
            with Vertical(id="config-main"):
                yield Static("Machine", classes="section")
                yield Static("detecting…", id="machine", markup=False)
                yield Static("Profile", classes="section")
                yield Select(
                    [(n, n) for n in self.profiles],
                    value=first.name,
                    allow_blank=False,
                    compact=True,
                    id="profile",
                )
                yield Static("", id="profile-reason", markup=False)
                yield Static("Model", classes="section")
                yield Select(
                    options, value=options[0][1], allow_blank=False, compact=True, id="model"
                )
                yield Input(
                    placeholder="or type a model folder / Hub id (org/name)",
                    compact=True,
                    id="model-path",
                )
                yield Static("From a run (stage 2)", classes="section")
                yield FromRunField(id="from")
                yield Static("Data (train.jsonl + valid.jsonl)", classes="section")
                yield Input("data", compact=True, id="data-path")
                yield Static("checking…", id="data-summary", markup=False)
                yield Static("", id="data-cost", markup=False)
                yield Static("Ranks (data-parallel, through mlx.launch)", classes="section")
                with Horizontal(id="ranks-row"):
                    yield Input("1", placeholder="2, or a hosts.json", compact=True, id="ranks")
                    yield Select(
                        [(b, b) for b in BACKENDS],
                        value="ring",
                        allow_blank=False,
                        compact=True,
                        id="backend",
                    )
                yield Static(RANKS_HINT, id="ranks-hint", markup=False)
                yield TokenPanel(id="token-view")
                yield Static("", id="activity", markup=False)
            with Vertical(id="config-fields"):
                yield Static("Settings", classes="section")
                yield FieldEditor(first, id="fields")
        with Horizontal(id="config-actions"):
            yield Button("Start ▶", id="start", variant="success", compact=True)
            yield Button("Save as profile…", id="save-profile", compact=True)
            yield Static("", id="start-note", markup=False)
        yield KeyBar()

    def on_screen_resume(self) -> None:
        self.query_one(
            FromRunField
        ).refresh_runs()  # a run may have finished (or saved a checkpoint) since

    def on_mount(self) -> None:
        self.cockpit.after_first_frame(self.query_one(FieldEditor).build)
        self.cockpit.hardware_changed.subscribe(self, self.show_hardware)
        if self.cockpit.hardware is not None:
            self.show_hardware(self.cockpit.hardware)
        else:  # the check depends on the profile the hardware chooses: it waits for show_hardware
            self.check_after(HARDWARE_WAIT if self.cockpit.detect_hardware else CHECK_DELAY)

    # ---- machine and profile ------------------------------------------------------------------
    def show_hardware(self, hardware: Hardware) -> None:
        self.query_one("#machine", Static).update("\n".join(hardware.summary_lines()))
        try:
            chosen, reason = choose_profile(hardware, self.profiles)
        except UserError as exc:
            self.query_one("#profile-reason", Static).update(str(exc))
        else:
            self.auto_name, self.auto_reason = chosen.name, reason
            self.query_one("#profile", Select).value = chosen.name
            self.show_reason(chosen.name)
        self.schedule_check()

    def show_reason(self, name: str) -> None:
        if not self.auto_name:
            text = self.profiles[name].description
        elif name == self.auto_name:
            text = f"Auto: {self.auto_reason}"
        else:
            text = (
                f"Chosen by you (auto would pick {self.auto_name}). "
                f"{self.profiles[name].description}"
            )
        self.query_one("#profile-reason", Static).update(text)

    @on(Select.Changed, "#profile")
    def load_profile(self, event: Select.Changed) -> None:
        profile = self.profiles.get(str(event.value))
        if profile is None:
            return
        self.show_reason(profile.name)
        self.query_one(FieldEditor).load(profile)

    @on(FieldEditor.Changed)
    def apply_fields(self, event: FieldEditor.Changed) -> None:
        self.errors = event.errors
        base = event.profile
        if not event.errors:
            try:
                self.profile = base.replace(**event.values)
            except UserError as exc:
                self.errors = {"profile": str(exc)}
        self.show_cost()
        self.schedule_check()

    # ---- ranks ----------------------------------------------------------------------------------
    @on(Input.Changed, "#ranks")
    @on(Select.Changed, "#backend")
    def check_ranks(self) -> None:
        """A whole number of ranks here, or a hostfile checked as mlx.launch reads it (the file is
        small)."""
        backend = str(self.query_one("#backend", Select).value)
        try:
            self.ranks, self.hosts = ranks_setting(
                self.query_one("#ranks", Input).value, paths.home(), backend
            )
            self.ranks_error = ""
            text = describe_ranks(self.ranks, self.hosts, backend) or RANKS_HINT
        except UserError as exc:
            self.ranks_error = text = str(exc)
        hint = self.query_one("#ranks-hint", Static)
        hint.update(text)
        hint.set_class(bool(self.ranks_error), "-invalid")

    # ---- data check ---------------------------------------------------------------------------
    def model_spec(self) -> str:
        typed = self.query_one("#model-path", Input).value.strip()
        return typed or str(self.query_one("#model", Select).value)

    def check_key(self) -> tuple:
        p = self.profile
        data = str(home_path(self.query_one("#data-path", Input).value))
        return (data, self.model_spec(), p.max_seq_length, p.mask_prompt, p.batch_size)

    @on(Input.Changed, "#data-path, #model-path")
    @on(Select.Changed, "#model")
    def schedule_check(self) -> None:
        """Check the data again once typing pauses (timer restarted on each change)."""
        self.check_after(CHECK_DELAY)

    def check_after(self, delay: float) -> None:
        if getattr(self, "_check_timer", None) is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(delay, self.action_recheck)

    def action_recheck(self, again: bool = False) -> None:
        """Check the data when what it is checked against changed; `again` (ctrl+r) checks anyway:
        the files may have changed, or a run may have measured this model's speed since."""
        key = self.check_key()
        if again or key != self.report_key:
            self.report_key = key
            self.query_one("#data-summary", Static).update("checking…")
            self.query_one("#data-cost", Static).update("")
            self.check_data(key)

    @work(
        thread=True,
        exclusive=True,
        group="datacheck",
        exit_on_error=False,
        description="check the data set",
    )
    def check_data(self, key: tuple) -> None:
        data, spec, max_seq, mask, batch = key
        try:
            tokenizer = self.tokenizer_for(spec)
            report = datacheck.check_data(
                Path(data), tokenizer, max_seq, mask_prompt=mask, batch_size=batch
            )
            tokens = (
                token_views(Path(data), tokenizer, mask, max_seq, 1)
                if tokenizer is not None
                else None
            )
            speed = measured_speed(str(models.local_folder(spec) or spec))
            auto = None
            if (
                self.cockpit.hardware is not None
            ):  # predicted peak for this model at the data's real length
                auto = choose_profile(
                    self.cockpit.hardware,
                    self.profiles,
                    model_spec=spec,
                    seq_len=report.padded_length(),
                )
        except UserError as exc:
            self.post_message(DataChecked(key, None, str(exc)))
            return
        self.post_message(
            DataChecked(
                key,
                report,
                auto=(auto[0].name, auto[1]) if auto else None,
                speed=speed,
                tokens=tokens,
            )
        )

    def tokenizer_for(self, spec: str):
        """The model's tokenizer when it is a local folder (cached); None counts characters
        instead."""
        if spec == DEMO:
            return None
        if spec not in self.tokenizers:
            try:
                self.tokenizers[spec] = datacheck.load_tokenizer_for(spec)
            except UserError:
                self.tokenizers[spec] = None
        return self.tokenizers[spec]

    @on(DataChecked)
    def show_data(self, message: DataChecked) -> None:
        if message.key != self.report_key:
            return  # an older check finished after a newer one started
        self.report, self.speed = message.report, message.speed
        if len(self.tokenizers) > self.tokenizers_kept:  # a tokenizer (and transformers) was loaded
            self.tokenizers_kept = len(self.tokenizers)
            keep_long_lived(self.app)
        self.show_cost()
        text = message.error or "\n".join(summary_lines(message.report, mask_prompt=message.key[3]))
        summary = self.query_one("#data-summary", Static)
        summary.update(text)
        summary.set_class(bool(message.error) or not message.report.ok, "-problem")
        self.query_one(TokenPanel).show(message.tokens)
        if message.auto:
            self.follow_auto(*message.auto)

    def show_cost(self) -> None:
        """What the data will cost with the profile as edited; steps follow every field's change."""
        cost = (
            data_cost(self.report, self.profile)
            if self.report is not None and self.report.ok
            else None
        )
        lines = cost_lines(cost, self.profile, self.speed) if cost is not None else []
        self.query_one("#data-cost", Static).update("\n".join(lines))

    def follow_auto(self, name: str, reason: str) -> None:
        """Take the model-aware choice, unless the user picked or edited a profile themselves."""
        select = self.query_one("#profile", Select)
        untouched = select.value == self.auto_name and self.profile == self.profiles.get(
            self.auto_name
        )
        self.auto_name, self.auto_reason = name, reason
        if untouched and select.value != name:
            select.value = name  # loads its fields through load_profile
        self.show_reason(str(select.value))

    # ---- start --------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        if self.errors:
            name, message = next(iter(self.errors.items()))
            self.notify(f"Fix {name} first: {message}", severity="error")
            return
        from_error = self.query_one(FromRunField).error
        if self.ranks_error or from_error:
            name, error = ("ranks", self.ranks_error) if self.ranks_error else ("from", from_error)
            self.notify(f"Fix {name} first: {error}", severity="error", timeout=10)
            return
        data = home_path(self.query_one("#data-path", Input).value)
        if not data.exists():
            self.notify(
                f"No data at {data}: expected a folder with train.jsonl and valid.jsonl",
                severity="error",
            )
            return
        if self.report is not None and self.report_key == self.check_key() and not self.report.ok:
            problems = self.report.problem_lines(per_file=2)[:3] or ["no examples to train on"]
            self.notify(
                "The data has problems:\n" + "\n".join(problems), severity="error", timeout=10
            )
            return
        status = self.cockpit.run_status
        if status.alive and status.status not in ENDED:
            dialog = ChoiceDialog(
                "Another run is training",
                f"Run {status.run_id} is still running. Two runs share the memory.",
                [("start", "Start anyway", "warning"), ("cancel", "Cancel", "default")],
            )
            self.app.push_screen(dialog, lambda answer: answer == "start" and self.launch(data))
            return
        self.launch(data)

    def launch(self, data: Path) -> None:
        self.query_one("#start", Button).disabled = True
        self.query_one("#start-note", Static).update("preparing the model…")
        parent = self.query_one(FromRunField)
        self.start_run(
            self.profile,
            self.model_spec(),
            data,
            str(self.query_one("#backend", Select).value),
            parent.spec,
            parent.fuse,
        )

    @work(
        thread=True, exclusive=True, group="start", exit_on_error=False, description="start a run"
    )
    def start_run(
        self, profile: Profile, spec: str, data: Path, backend: str, source: str, fuse: bool
    ) -> None:
        say = lambda line: self.post_message(ModelProgressed(line))  # noqa: E731
        try:
            # from a run: its base (or its fused model), not the model picked above
            parent, model = parent_and_model(source, fuse, None, say) if source else (None, spec)
            plan = plan_run(
                None if model == DEMO else model,
                data,
                profile,
                hardware=self.cockpit.hardware,
                progress=say,
                ranks=self.ranks,
                hosts=self.hosts,
                backend=backend,
                parent=parent,
                fused=fuse,
            )
            run_dir = start_plan(plan)
        except UserError as exc:
            self.post_message(RunStartFailed(str(exc)))
            return
        except Exception as exc:  # a failed download or conversion: say it, keep the UI up
            self.post_message(RunStartFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(RunStarted(run_dir))

    @on(ModelProgressed)
    def show_progress(self, message: ModelProgressed) -> None:
        line = message.line.strip()
        if line:
            self.query_one("#activity", Static).update(line[-300:])
            self.query_one("#start-note", Static).update(line)

    @on(RunStarted)
    def follow_run(self, message: RunStarted) -> None:
        self._start_done(f"started {message.run_dir.name}")
        self.cockpit.attach(message.run_dir)
        self.app.switch_mode("training")

    @on(RunStartFailed)
    def show_failure(self, message: RunStartFailed) -> None:
        self._start_done("")
        self.notify(message.reason, title="Could not start", severity="error", timeout=15)

    def _start_done(self, note: str) -> None:
        self.query_one("#start", Button).disabled = False
        self.query_one("#start-note", Static).update(note)
        if note:  # models/ may hold the demo model now
            select = self.query_one("#model", Select)
            current, options = select.value, model_options()
            select.set_options(options)
            values = [value for _, value in options]
            select.value = (
                current
                if current in values
                else models.DEMO_MODEL
                if current == DEMO
                else values[0]
            )

    # ---- save as profile ----------------------------------------------------------------------
    @on(Button.Pressed, "#save-profile")
    def action_save_profile(self) -> None:
        if self.errors:
            self.notify("Fix the settings marked in red first", severity="error")
            return
        prompt = NamePrompt(
            "Save as profile",
            "Letters, digits, '-' and '_'. Saved in profiles/NAME.toml.",
            f"{self.profile.name}-custom",
        )
        self.app.push_screen(prompt, self.save_as)

    def save_as(self, name: str | None) -> None:
        if not name:
            return
        try:
            path = save_profile(self.profile.replace(name=name))
            self.profiles = available_profiles()
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        select = self.query_one("#profile", Select)
        select.set_options([(n, n) for n in self.profiles])
        select.value = name
        self.notify(f"Saved {path}")
