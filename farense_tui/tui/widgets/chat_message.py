"""One message of a chat: who speaks, the text exactly as written, and a note when it ended.

Replies grow token by token through `append`; the text is always rendered with
`literal_text`, never as markup. `SideBySide` puts two replies to the same prompt next to each
other (base model left, adapter right).
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Horizontal
from textual.widgets import Static

from farense_tui.tui.chat_text import literal_text

CURSOR = "▌"


class ChatMessage(Static):
    """A user prompt or a model reply, rendered literally; a reply shows a cursor while it
    streams."""

    DEFAULT_CSS = """
    ChatMessage {
        height: auto;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    ChatMessage.-user {
        background: $boost;
    }
    ChatMessage.-reply {
        border-left: outer $accent;
    }
    ChatMessage.-reply.-base {
        border-left: outer $secondary;
    }
    ChatMessage.-error {
        color: $text-error;
        border-left: outer $error;
    }
    """

    def __init__(
        self,
        speaker: str,
        text: str = "",
        *,
        kind: str = "reply",
        side: str | None = None,
        streaming: bool = False,
    ) -> None:
        super().__init__(markup=False, classes=f"-{kind}" + (f" -{side}" if side else ""))
        self.speaker = speaker
        self.side = side
        self.text = text
        self.note = ""
        self.streaming = streaming
        self.chunks = 0
        self._refresh_content()

    def append(self, chunk: str) -> None:
        self.text += chunk
        self.chunks += 1
        self._refresh_content()

    def finish(self, note: str) -> None:
        self.streaming = False
        self.note = note
        self._refresh_content()

    def _refresh_content(self) -> None:
        content = Text(self.speaker, style="bold", end="")
        content.append("\n")
        content.append_text(literal_text(self.text))
        if self.streaming:
            content.append(CURSOR, style="blink")
        if self.note:
            content.append("\n" + self.note, style="dim italic")
        self.update(content)


class SideBySide(Horizontal):
    """Two replies to one prompt, next to each other."""

    DEFAULT_CSS = """
    SideBySide {
        height: auto;
    }
    SideBySide > ChatMessage {
        width: 1fr;
        margin: 0 1 1 0;
    }
    """
