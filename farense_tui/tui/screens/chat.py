"""Chat screen: talk to a base model or a run's adapter, streamed token by token.

The model belongs to the App (`app.chat`, a ChatSession), so it outlives this screen and is
closed with the App. This screen is the session's view: the session posts the model's events
here as messages, and every widget change happens in the handlers below, on the UI thread.

Model output is data: replies are rendered literally (`chat_text.literal_text`), never as markup.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Checkbox, Input, Label, Select, Static

from farense_tui.engine.chat.targets import RUN_PREFIX, TargetChoice, opening_choice
from farense_tui.engine.errors import UserError
from farense_tui.tui.dialogs.export import ExportDialog
from farense_tui.tui.long_lived import keep_long_lived
from farense_tui.tui.messages import (
    ChatFailed,
    ModelLoaded,
    ModelLoading,
    ReplyFinished,
    TargetPrepared,
    TargetsListed,
    TokenGenerated,
)
from farense_tui.tui.services.chat_session import ChatSession
from farense_tui.tui.widgets.chat_message import ChatMessage, SideBySide
from farense_tui.tui.widgets.chrome import CockpitScreen, chrome
from farense_tui.tui.widgets.key_bar import KeyBar
from farense_tui.tui.widgets.serving_line import ServingLine

PICK_PROMPT = "choose a base model or an adapter"


class ChatScreen(CockpitScreen):
    """Pick a model or adapter, set sampling, and chat; optionally base and adapter side by side."""

    CSS_PATH = "../styles/chat.tcss"
    BINDINGS = [
        Binding("escape", "stop_generation", "Stop"),
        Binding("ctrl+l", "new_chat", "New chat"),
        Binding("f5", "refresh_targets", "Refresh list"),
        Binding(
            "f6", "export", "Export", tooltip="Export the chosen adapter: fused, GGUF, PEFT, Ollama"
        ),
        Binding(
            "f7",
            "toggle_serving",
            "Serve",
            tooltip="Serve the chosen adapter over HTTP on 127.0.0.1, or stop",
        ),
    ]

    generating: reactive[bool] = reactive(False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.choices: dict[str, TargetChoice] = {}
        self.listed = False  # the targets were listed at least once
        self.options: list[tuple[str, str]] = []  # (label, key) as the Select shows them
        self.target = None  # the ChatTarget chosen last
        self.target_key: str | None = None
        self.opened_with: str | None = None  # the adapter chosen for the user on opening
        self.loading_label: str | None = None  # label of the model being loaded
        self.loaded: tuple[str, bool] | None = None  # (label, has_adapter) once loaded
        self.messages: list[dict] = []  # the conversation sent to the model
        self.replies: dict[str, ChatMessage] = {}  # side -> reply widget of the turn in progress
        self.pending: set[str] = set()
        self.last_stats = ""

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield from chrome()
        with Horizontal(id="settings"):
            yield Select([], prompt="listing models and runs…", id="target", compact=True)
        with Horizontal(id="params"):
            yield Label("temp")
            yield Input(
                "0.0",
                id="temperature",
                type="number",
                compact=True,
                tooltip="0 = always the likeliest token",
            )
            yield Label("top-p")
            yield Input(
                "1.0", id="top_p", type="number", compact=True, tooltip="nucleus sampling, 0–1"
            )
            yield Label("max")
            yield Input(
                "256", id="max_tokens", type="integer", compact=True, tooltip="tokens per reply"
            )
            yield Checkbox(
                "base vs adapter",
                id="side_by_side",
                compact=True,
                disabled=True,
                tooltip="answer each prompt with the base model and with the adapter",
            )
        with Horizontal(id="system_row"):
            yield Label("system")
            yield Input(
                id="system",
                compact=True,
                placeholder="no system message",
                tooltip="sent before the conversation; a run's adapter starts with the one it "
                "trained with",
            )
        yield ServingLine()
        yield VerticalScroll(id="conversation")
        yield Static(id="status", markup=False)
        yield Input(placeholder="ask something — enter sends", id="prompt")
        yield KeyBar()

    @property
    def chat(self) -> ChatSession:
        """The App's chat model."""
        return self.cockpit.chat

    def on_mount(self) -> None:
        self.chat.view = self
        self.query_one("#conversation").anchor()
        self.show_status()
        self.action_refresh_targets()
        self.query_one("#prompt").focus()

    def on_screen_resume(self) -> None:
        if self.listed:  # new runs may have finished while we were away; the switch's frame first
            self.call_after_refresh(self.action_refresh_targets)

    def on_unmount(self) -> None:
        if self.chat.view is self:
            self.chat.view = None

    # -- choosing what to talk to --------------------------------------------------------------

    def action_refresh_targets(self) -> None:
        self.list_choices()

    @work(
        thread=True,
        exclusive=True,
        group="chat-targets",
        exit_on_error=False,
        description="list base models and run adapters",
    )
    def list_choices(self) -> None:
        hardware = self.cockpit.hardware
        try:
            choices = self.chat.list_choices(hardware.has_gpu if hardware is not None else None)
        except Exception as exc:  # a broken runs/ folder must not take the chat down
            self.post_message(TargetsListed([], f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TargetsListed(choices))

    @on(TargetsListed)
    def offer_targets(self, event: TargetsListed) -> None:
        if event.error:
            self.notify(f"could not list models and runs: {event.error}", severity="error")
        self.choices, self.listed = {c.key: c for c in event.choices}, True
        select = self.query_one("#target", Select)
        select.prompt = (
            PICK_PROMPT if self.choices else "no models or adapters yet — train a run first"
        )
        options = [(c.label, c.key) for c in event.choices]
        if options != self.options:  # listed again on each visit: an unchanged list costs no layout
            self.options = options
            with self.prevent(Select.Changed):
                select.set_options(options)
                if self.target_key in self.choices:
                    select.value = self.target_key
        opening = self.opening_key(event.choices)
        if opening is not None:
            self.opened_with = opening
            select.value = opening  # loads it through prepare_chosen_target; the prompt takes focus
            self.query_one("#prompt").focus()
        elif self.target is None and self.choices and self.focused is not select:
            select.focus()  # the first thing to do here is to choose

    def opening_key(self, choices: list[TargetChoice]) -> str | None:
        """The adapter to open with (engine's `opening_choice`), unless the user chose something
        else here, a reply is streaming, or it is already the one chosen."""
        if self.generating or self.target_key not in (None, self.opened_with):
            return None
        choice = opening_choice(choices, self.cockpit.run_status.run_dir)
        return choice.key if choice is not None and choice.key != self.target_key else None

    @on(Select.Changed, "#target")
    def prepare_chosen_target(self, event: Select.Changed) -> None:
        key = event.value
        if key is Select.BLANK or key == self.target_key or key not in self.choices:
            return
        self.target_key = key
        self.loading_label, self.loaded = self.choices[key].label, None
        self.show_status()
        self.prepare_target(self.choices[key])

    @work(
        thread=True,
        exclusive=True,
        group="chat-target",
        exit_on_error=False,
        description="read the chosen run's adapter settings",
    )
    def prepare_target(self, choice: TargetChoice) -> None:
        """Build the ChatTarget off the UI thread: the first use imports mlx-lm (seconds)."""
        try:
            target = self.chat.prepare(choice)
        except UserError as exc:
            self.post_message(ChatFailed(str(exc)))
            return
        self.post_message(TargetPrepared(choice.key, target))

    @on(TargetPrepared)
    def load_target(self, event: TargetPrepared) -> None:
        if event.key != self.target_key:
            return  # the user chose again meanwhile
        target = event.target
        if self.generating:
            self.chat.stop_generation()
        self.target = target
        self.query_one("#system", Input).value = getattr(target, "system", None) or ""
        self.loading_label, self.loaded = target.label, None
        self.chat.load(target)
        self.query_one("#conversation").mount(
            Static(f"— talking to {target.label} —", classes="note", markup=False)
        )
        self.show_status()
        self.query_one("#prompt").focus()

    @on(ModelLoading)
    def note_loading(self, event: ModelLoading) -> None:
        self.loading_label = event.label
        self.show_status()

    @on(ModelLoaded)
    def note_loaded(self, event: ModelLoaded) -> None:
        self.loading_label, self.loaded = None, (event.label, event.has_adapter)
        keep_long_lived(self.app)
        self.query_one("#side_by_side", Checkbox).disabled = not event.has_adapter
        self.show_status()

    # -- asking --------------------------------------------------------------------------------

    def read_params(self) -> dict:
        """Sampling settings from the inputs; ValueError names the field and what it expects."""
        values = {}
        for field, parse, ok, expect in (
            ("temperature", float, lambda v: 0 <= v <= 5, "a number from 0 to 5"),
            ("top_p", float, lambda v: 0 < v <= 1, "a number above 0, at most 1"),
            ("max_tokens", int, lambda v: 1 <= v <= 1_000_000, "a whole number from 1"),
        ):
            raw = self.query_one(f"#{field}", Input).value.strip()
            try:
                value = parse(raw)
            except ValueError:
                raise ValueError(f"{field.replace('_', ' ')}: {raw!r} is not {expect}") from None
            if not ok(value):
                raise ValueError(f"{field.replace('_', ' ')}: {raw!r} is not {expect}")
            values[field] = value
        return values

    @on(Input.Submitted, "#prompt")
    def send_prompt(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.generating:
            self.notify("a reply is still streaming — esc stops it", severity="warning")
            return
        if self.target is None:
            self.notify("choose a base model or an adapter first", severity="warning")
            return
        try:
            params = self.read_params()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        has_adapter = self.target.adapter is not None
        sides = (
            ("base", "adapter")
            if has_adapter and self.query_one("#side_by_side", Checkbox).value
            else ("adapter",)
        )
        event.input.clear()
        self.messages.append({"role": "user", "content": text})
        conversation = self.query_one("#conversation")
        conversation.mount(ChatMessage("you", text, kind="user"))
        self.replies = {
            side: ChatMessage(self._speaker(side, len(sides) > 1), side=side, streaming=True)
            for side in sides
        }
        if len(sides) > 1:
            conversation.mount(SideBySide(*self.replies.values()))
        else:
            conversation.mount(self.replies[sides[0]])
        conversation.anchor()
        self.pending = set(sides)
        self.generating = True
        system = self.query_one("#system", Input).value.strip()
        opening = [{"role": "system", "content": system}] if system else []
        self.chat.ask([*opening, *self.messages], sides=sides, **params)

    def _speaker(self, side: str, paired: bool = False) -> str:
        if side == "base":
            return "base model (adapter off)"
        label = self.target.label if self.target is not None else "model"
        # Side by side the column is narrow: "adapter (best)" instead of the run id.
        return f"adapter ({label.rsplit(':', 1)[-1]})" if paired else label

    @on(TokenGenerated)
    def extend_reply(self, event: TokenGenerated) -> None:
        reply = self.replies.get(event.side)
        if reply is not None:
            reply.append(event.text)

    @on(ReplyFinished)
    def close_reply(self, event: ReplyFinished) -> None:
        reply = self.replies.get(event.side)
        if reply is not None:
            reason = (
                " · stopped"
                if event.stopped
                else (" · max tokens" if event.finish_reason == "length" else "")
            )
            reply.finish(f"{event.tokens} tokens · {event.tps:g} tok/s{reason}")
        self.last_stats = f"{event.tokens} tok, {event.tps:g} tok/s"
        self.pending.discard(event.side)
        if event.stopped:  # the service skips the sides after a stop
            for side in list(self.pending):
                self.replies[side].finish("not asked: stopped")
            self.pending.clear()
        if not self.pending:
            self._end_turn()

    @on(ChatFailed)
    def show_error(self, event: ChatFailed) -> None:
        self.query_one("#conversation").mount(ChatMessage("error", event.message, kind="error"))
        if self.loading_label is not None:
            self.loading_label, self.target, self.target_key = None, None, None
        for side in list(self.pending):
            self.replies[side].finish("failed")
        self.pending.clear()
        if self.generating:
            self._end_turn()
        self.show_status()

    def _end_turn(self) -> None:
        """The turn is over: the reply the model will remember is the adapter's (or the only
        one)."""
        reply = self.replies.get("adapter") or next(iter(self.replies.values()), None)
        if reply is not None and reply.text:
            self.messages.append({"role": "assistant", "content": reply.text})
        elif self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()  # nothing came back: do not send a dangling question next time
        self.generating = False

    def watch_generating(self, generating: bool) -> None:
        self.show_status()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "new_chat":
            return None if self.generating else True
        return True

    def action_stop_generation(self) -> None:
        """esc: stop the reply; with nothing streaming, leave the text box (1-4 then switch
        screens)."""
        if self.generating:
            self.chat.stop_generation()
        elif isinstance(self.focused, Input):
            self.set_focus(None)

    def action_new_chat(self) -> None:
        if self.generating:
            return
        self.messages.clear()
        self.replies.clear()
        self.query_one("#conversation").remove_children()
        self.last_stats = ""
        self.show_status()

    def show_status(self) -> None:
        if self.loading_label:
            text = f"loading {self.loading_label}…"
        elif self.generating:
            text = "generating… esc stops"
        elif self.loaded:
            label, has_adapter = self.loaded  # the label is on the target row already
            text = f"ready · {getattr(self.target, 'precision', '')}" + (
                " · with adapter" if has_adapter else ""
            )
            if self.last_stats:
                text += f" · last reply {self.last_stats}"
        else:
            text = PICK_PROMPT + " above"
        for status in self.query("#status").results(Static):
            status.update(text)

    # -- export and serve ----------------------------------------------------------------------

    def chosen_adapter(self) -> tuple[Path, str] | None:
        """(run folder, checkpoint) of the chosen target; None (and a note) for a base model."""
        key = self.target_key or ""
        if not key.startswith(RUN_PREFIX):
            self.notify(
                "Choose a run's adapter first (a base model has nothing to export or serve)",
                severity="warning",
            )
            return None
        path, which = key.removeprefix(RUN_PREFIX).rsplit(":", 1)
        return Path(path), which

    def action_export(self) -> None:
        if (chosen := self.chosen_adapter()) is not None:
            self.app.push_screen(ExportDialog(*chosen))

    def action_toggle_serving(self) -> None:
        line = self.query_one(ServingLine)
        if self.cockpit.serving.server is not None:
            line.stop()
        elif (chosen := self.chosen_adapter()) is not None:
            line.start(*chosen)
