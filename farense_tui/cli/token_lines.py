"""`data check --tokens`: examples as the model sees them, trained tokens marked, as terminal lines.

On a terminal trained text is bold green and the rest dim; in a pipe or file trained text sits
between [[ and ]], so the lines read the same without colour.
"""

from __future__ import annotations

from farense_tui.engine.data.token_view import ExampleTokens
from farense_tui.engine.literal import terminal_safe

TRAINED_TTY, PROMPT_TTY, RESET = "\x1b[1;32m", "\x1b[2m", "\x1b[0m"
OPEN, CLOSE = "[[", "]]"


def marked(view: ExampleTokens, tty: bool) -> str:
    """The example's text with its trained runs marked (control characters made visible)."""
    parts = []
    for text, trained in view.runs:
        text = terminal_safe(text)
        if tty:
            parts.append(f"{TRAINED_TTY if trained else PROMPT_TTY}{text}{RESET}")
        else:
            parts.append(f"{OPEN}{text}{CLOSE}" if trained else text)
    if view.cut:
        parts.append(
            f" ✂ {view.cut} more token{'s' if view.cut != 1 else ''} cut by max_seq_length"
        )
    return "".join(parts)


def token_lines(views: list[ExampleTokens], report, tty: bool) -> list[str]:
    legend = "bold green" if tty else f"between {OPEN} and {CLOSE}"
    lines = [
        f"Examples as trained (chat template applied to chat and completions data; trained tokens "
        f"{legend}):"
    ]
    for view in views:
        lines.append(
            f"{view.file.name}:{view.line}  {view.tokens} tokens, {view.trained} trained"
            + (", NOTHING TRAINED" if view.empty else "")
        )
        lines += [f"    {line}" for line in marked(view, tty).split("\n")]
    lines.append("Masks per split:")
    for name, split in report.splits.items():
        if split.length_unit != "tokens":
            continue
        cut = (
            f"{split.answer_cut} with the answer cut by max_seq_length {report.max_seq_length}"
            if report.max_seq_length
            else "max_seq_length not given"
        )
        lines.append(f"  {name}: {split.empty_mask} with an empty mask (nothing trained), {cut}")
    return lines
