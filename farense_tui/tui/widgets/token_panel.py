"""Config's view of one training example as the model sees it: chat template applied, the tokens
the loss is on in bold green, the rest dim (engine/data/token_view.py decides which are which).

The example's text is data: shown literally (no markup; control characters as visible escapes).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from farense_tui.engine.data.token_view import ExampleTokens
from farense_tui.tui.chat_text import literal_text

TRAINED, PROMPT = "bold green", "dim"


def view_text(view: ExampleTokens) -> Text:
    text = Text(end="")
    for part, trained in view.runs:
        text.append_text(literal_text(part, TRAINED if trained else PROMPT))
    if view.cut:
        text.append(
            f" ✂ {view.cut} more token{'s' if view.cut != 1 else ''} cut by max_seq_length",
            "italic",
        )
    return text


class TokenPanel(Vertical):
    """A title line (where the example is, its tokens, how many train) and the example's text."""

    DEFAULT_CSS = """
    TokenPanel { height: auto; }
    TokenPanel #token-title { color: $foreground-muted; height: auto; }
    TokenPanel #token-title.-problem { color: $error; }
    TokenPanel #token-text { height: auto; max-height: 8; overflow-y: auto; background: $surface; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="token-title", markup=False)
        yield Static("", id="token-text", markup=False)

    def show(self, views: list[ExampleTokens] | None) -> None:
        """The first of `views`; None when no tokenizer counted the data (no tokens to show)."""
        title, body = self.query_one("#token-title", Static), self.query_one("#token-text", Static)
        view = views[0] if views else None
        if view is None:
            title.update(
                "as trained: no tokenizer for this model yet"
                if views is None
                else "as trained: no train example to show"
            )
            title.remove_class("-problem")
            body.update("")
            body.display = False
            return
        words = (
            f"{view.tokens} tokens, {view.trained} trained (green)"
            if not view.empty
            else f"{view.tokens} tokens, NOTHING TRAINED"
        )
        title.update(f"as trained: {view.file.name}:{view.line} · {words}")
        title.set_class(view.empty, "-problem")
        body.update(view_text(view))
        body.display = True
