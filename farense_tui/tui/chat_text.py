"""Model output as data: text that is shown exactly as the model wrote it.

A model can write `[bold red]x[/]` (Rich/Textual markup) or `\\x1b[31m` (a terminal escape).
Neither may change what the screen does: the text goes into a `rich.text.Text` (never parsed as
markup) and control characters are replaced by a visible escape such as `\\x1b`, styled apart
so they cannot be mistaken for what the model printed in plain letters.
"""

from __future__ import annotations

from rich.text import Text

from farense_tui.engine.literal import CONTROL, visible_control

CONTROL_STYLE = "reverse dim"


def literal_text(text: str, style: str = "") -> Text:
    """A Text showing `text` literally: no markup, control characters as visible escapes."""
    out = Text(style=style, end="")
    pos = 0
    for match in CONTROL.finditer(text):
        if match.start() > pos:
            out.append(text[pos : match.start()])
        out.append(visible_control(match.group()), style=CONTROL_STYLE)
        pos = match.end()
    if pos < len(text):
        out.append(text[pos:])
    return out
