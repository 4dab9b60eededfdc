"""The Chat screen's messages: ChatService events turned into Textual messages.

The service calls `emit(event)` on its MLX thread; the screen turns each event into one of these
with `message_for_event` and posts it to itself (thread-safe), so every widget change happens on
the UI thread in a handler named for what happened.
"""

from __future__ import annotations

from textual.message import Message

from farense_tui.tui.widgets.chat_targets import TargetChoice


class ChatEvent(Message, bubble=False):
    """Base of this screen's own messages; each says bubble=False (Textual resets it per subclass):
    they stay on this screen, the App does not need them."""


class ModelLoading(ChatEvent, bubble=False):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


class ModelLoaded(ChatEvent, bubble=False):
    def __init__(self, label: str, has_adapter: bool) -> None:
        super().__init__()
        self.label = label
        self.has_adapter = has_adapter


class TokenGenerated(ChatEvent, bubble=False):
    def __init__(self, side: str, text: str) -> None:
        super().__init__()
        self.side = side
        self.text = text


class ReplyFinished(ChatEvent, bubble=False):
    def __init__(self, side: str, tokens: int, tps: float, finish_reason: str | None, stopped: bool) -> None:
        super().__init__()
        self.side = side
        self.tokens = tokens
        self.tps = tps
        self.finish_reason = finish_reason
        self.stopped = stopped


class ChatFailed(ChatEvent, bubble=False):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class TargetPrepared(ChatEvent, bubble=False):
    def __init__(self, key: str, target) -> None:
        super().__init__()
        self.key = key
        self.target = target  # farense_tui.engine.chat.service.ChatTarget


class TargetsListed(ChatEvent, bubble=False):
    def __init__(self, choices: list[TargetChoice], error: str | None = None) -> None:
        super().__init__()
        self.choices = choices
        self.error = error


def message_for_event(event: dict) -> Message | None:
    """The screen message for one ChatService event (None for an unknown type)."""
    kind = event.get("type")
    if kind == "token":
        return TokenGenerated(event.get("side", "adapter"), event.get("text", ""))
    if kind == "done":
        return ReplyFinished(event.get("side", "adapter"), int(event.get("tokens", 0)), float(event.get("tps", 0.0)),
                             event.get("finish_reason"), bool(event.get("stopped")))
    if kind == "loading":
        return ModelLoading(event.get("label", ""))
    if kind == "loaded":
        return ModelLoaded(event.get("label", ""), bool(event.get("has_adapter")))
    if kind == "error":
        return ChatFailed(str(event.get("message", "error")))
    return None
