"""Small modal dialogs: quit with a live run, resume a dead/failed run, pick a profile, name a
profile.

Each returns its choice with `dismiss` (a short string, or None when cancelled with Escape), so
the caller decides what to do; none of them touches the engine itself.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

DIALOG_CSS = """
{name} {{ align: center middle; background: $background 60%; }}
{name} > Vertical {{
    width: 72; max-width: 100%; height: auto; max-height: 100%;
    border: thick $accent; background: $surface; padding: 0 1;
}}
{name} .title {{ text-style: bold; color: $accent; width: 1fr; margin-bottom: 1; }}
{name} .body {{ width: 1fr; margin-bottom: 1; }}
{name} Horizontal {{ height: auto; width: 1fr; }}
{name} Button {{ margin-right: 1; }}
"""


class ChoiceDialog(ModalScreen[str | None]):
    """A question with a row of buttons; each button's id is the answer. Escape answers None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]
    DEFAULT_CSS = DIALOG_CSS.format(name="ChoiceDialog")

    def __init__(self, title: str, body: str, choices: list[tuple[str, str, str]]) -> None:
        """`choices`: (answer, button label, variant) in order; the first gets the focus."""
        super().__init__()
        self.title_text, self.body_text, self.choices = title, body, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Static(self.body_text, classes="body", markup=False)
            with Horizontal():
                for answer, label, variant in self.choices:
                    yield Button(label, id=answer, variant=variant, compact=True)

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)


def quit_dialog(run_id: str) -> ChoiceDialog:
    return ChoiceDialog(
        "Quit while a run is training?",
        f"Run {run_id} is still running in its own process.\n"
        "Stop and save: it checkpoints and stops; resume it later.\n"
        "Leave it running: quit now; run farense-tui again to attach to it.",
        [
            ("leave", "Leave it running", "primary"),
            ("stop", "Stop and save", "warning"),
            ("cancel", "Cancel", "default"),
        ],
    )


def recovery_dialog(
    run_id: str, what: str, checkpoint_step: int, smaller: str | None, smaller_first: bool
) -> ChoiceDialog:
    """Resume a run: smaller settings first after a crash or out-of-memory, as is after a stop."""
    where = f"step {checkpoint_step}" if checkpoint_step else "the start (no checkpoint yet)"
    body = f"{what}\nResuming continues from its last checkpoint, {where}."
    choices = [("as-is", "Resume as is", "primary")]
    if smaller:
        body += f"\nSmaller settings: {smaller} (same effective batch, so the same schedule)."
        choices.insert(0 if smaller_first else 1, ("smaller", "Resume smaller", "warning"))
    choices.append(("leave", "Leave it", "default"))
    title = f"Run {run_id} stopped unexpectedly" if smaller_first else f"Resume run {run_id}?"
    return ChoiceDialog(title, body, choices)


class ProfilePicker(ModalScreen[str | None]):
    """Choose a profile by name from a list (Enter picks, Escape cancels)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="ProfilePicker")
        + """
    ProfilePicker OptionList { height: auto; max-height: 12; }
    """
    )

    def __init__(self, title: str, profiles: dict[str, str], current: str = "") -> None:
        super().__init__()
        self.title_text, self.profiles, self.current = title, profiles, current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            options = [
                Option(f"{name:<12} {desc}", id=name) for name, desc in self.profiles.items()
            ]
            yield OptionList(*options)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if self.current in self.profiles:
            options.highlighted = list(self.profiles).index(self.current)

    @on(OptionList.OptionSelected)
    def pick(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class NamePrompt(ModalScreen[str | None]):
    """Ask for a name (Enter accepts, Escape cancels)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = DIALOG_CSS.format(name="NamePrompt")

    def __init__(self, title: str, hint: str, value: str = "") -> None:
        super().__init__()
        self.title_text, self.hint, self.value = title, hint, value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title", markup=False)
            yield Static(self.hint, classes="body", markup=False)
            yield Input(self.value, placeholder="name", restrict=r"[A-Za-z0-9_-]*")

    @on(Input.Submitted)
    def accept(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
