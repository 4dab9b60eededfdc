"""Every Profile field as an editable row, checked as you type with the engine's `coerce_value`.

A row is the field's name, an editor that fits its type (a Select for choices, a Checkbox for
true/false, an Input otherwise) and a line that says what is allowed, which turns into the error
when the value is not. The widget knows nothing about runs: it reports values and errors.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Select, Static

from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import FIELDS, Profile, coerce_value, describe_field

SKIPPED = ("name",)  # the name is given when saving, not edited here
EDITABLE = [name for name in FIELDS if name not in SKIPPED]


def parse(name: str, text: str):
    """Turn typed text into a value of the field's type (or leave it as text for coerce_value to
    refuse)."""
    kind = FIELDS[name].type if isinstance(FIELDS[name].type, str) else FIELDS[name].type.__name__
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        return text
    if kind == "list":
        return [part.strip() for part in text.replace(",", " ").split() if part.strip()]
    return text


def show(value) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class FieldEditor(Container):
    """Rows for every Profile field; posts `FieldEditor.Changed` with values and errors on each
    edit.

    A three-column grid (name, editor, hint) rather than a container per row: fewer widgets make
    switching to the Config screen cheaper, since a resumed screen restyles every widget.

    The rows are mounted by `build`, which the Config screen calls after the cockpit's first
    frame: they are over half of Config's widgets, and styling and laying them out with the rest
    took that frame past 1 s. Until then `load` only keeps the values; `built` says when the
    rows are there.
    """

    DEFAULT_CSS = """
    FieldEditor {
        layout: grid; grid-size: 3; grid-columns: 20 16 1fr; grid-rows: auto; grid-gutter: 0 1;
        height: auto;
    }
    FieldEditor .field-name { width: 1fr; }
    FieldEditor .field-editor { width: 1fr; }
    FieldEditor .field-hint { width: 1fr; height: auto; color: $foreground-muted; }
    FieldEditor .field-hint.-invalid { color: $error; }
    FieldEditor .field-name.-changed { color: $warning; }
    """

    class Changed(Message):
        """The values as typed: `values` holds the valid ones, `errors` the rest (field ->
        message)."""

        def __init__(self, editor: "FieldEditor", values: dict, errors: dict) -> None:
            super().__init__()
            self.editor, self.values, self.errors = editor, values, errors
            self.profile = (
                editor.profile
            )  # what the values edit: the editor may load another meanwhile

        @property
        def control(self) -> "FieldEditor":
            return self.editor

    def __init__(self, profile: Profile, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.profile = profile
        self.values: dict = {name: getattr(profile, name) for name in EDITABLE}
        self.errors: dict[str, str] = {}
        self.built = False

    def build(self) -> None:
        """Mount the rows, with the values of the profile loaded last."""
        if not self.built:
            self.mount_all(self._rows())
            self.built = True

    def _rows(self) -> ComposeResult:
        for name in EDITABLE:
            meta, value = FIELDS[name].metadata, getattr(self.profile, name)
            yield Label(name, classes="field-name", id=f"name-{name}")
            if "choices" in meta:
                yield Select(
                    [(c, c) for c in meta["choices"]],
                    value=value,
                    allow_blank=False,
                    compact=True,
                    id=f"field-{name}",
                    classes="field-editor",
                )
            elif isinstance(value, bool):
                yield Checkbox("", value, compact=True, id=f"field-{name}", classes="field-editor")
            else:
                yield Input(
                    show(value),
                    compact=True,
                    id=f"field-{name}",
                    classes="field-editor",
                    select_on_focus=True,
                )
            yield Static(
                describe_field(name), classes="field-hint", id=f"hint-{name}", markup=False
            )

    def load(self, profile: Profile) -> None:
        """Show another profile's values (for a profile chosen in the Select)."""
        self.profile = profile
        self.values = {name: getattr(profile, name) for name in EDITABLE}
        self.errors = {}
        for name in EDITABLE if self.built else ():
            value, widget = getattr(profile, name), self.query_one(f"#field-{name}")
            if isinstance(widget, Input):
                widget.value = show(value)
            else:
                widget.value = value
            self._mark(name, None)
        self.post_message(self.Changed(self, dict(self.values), {}))

    @on(Input.Changed, ".field-editor")
    @on(Select.Changed, ".field-editor")
    @on(Checkbox.Changed, ".field-editor")
    def check_field(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        event.stop()
        name = event.control.id.removeprefix("field-")
        # The editor's value now, not the event's, and only a real change: each row reports its
        # first value too, and that report can come after `load` gave the row another value.
        value = event.control.value
        raw = parse(name, value) if isinstance(event, Input.Changed) else value
        try:
            coerced = coerce_value(name, raw)
        except UserError as exc:
            message = str(exc)
            self.errors[name] = message
            self._mark(name, "expected " + message.split(": expected ", 1)[-1])
        else:
            if name not in self.errors and self.values.get(name) == coerced:
                return
            self.values[name] = coerced
            self.errors.pop(name, None)
            self._mark(name, None)
        self.post_message(self.Changed(self, dict(self.values), dict(self.errors)))

    def _mark(self, name: str, error: str | None) -> None:
        hint = self.query_one(f"#hint-{name}", Static)
        hint.update(error or describe_field(name))
        hint.set_class(error is not None, "-invalid")
        changed = error is None and self.values.get(name) != getattr(self.profile, name)
        self.query_one(f"#name-{name}").set_class(changed, "-changed")
