"""The App's chat model: the engine's ChatService, started on first use and closed with the App.

The service owns the model on its own MLX thread and reports through `emit`, called on that
thread; here each event becomes a message (`message_for_event`) posted to the view that shows
the chat (thread-safe), so every widget change happens on the UI thread. The service starts with
the first model load, not with the App: opening the cockpit must not import MLX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.message import Message
from textual.message_pump import MessagePump

from farense_tui.engine.chat.targets import TargetChoice, list_targets, release_mlx_streams
from farense_tui.tui.messages import (
    ChatFailed,
    ModelLoaded,
    ModelLoading,
    ReplyFinished,
    TokenGenerated,
)

if TYPE_CHECKING:
    from farense_tui.engine.chat.service import ChatService, ChatTarget

ServiceFactory = Callable[[Callable[[dict], None]], "ChatService"]


def message_for_event(event: dict) -> Message | None:
    """The message for one ChatService event (None for an unknown type)."""
    kind = event.get("type")
    if kind == "token":
        return TokenGenerated(event.get("side", "adapter"), event.get("text", ""))
    if kind == "done":
        return ReplyFinished(
            event.get("side", "adapter"),
            int(event.get("tokens", 0)),
            float(event.get("tps", 0.0)),
            event.get("finish_reason"),
            bool(event.get("stopped")),
        )
    if kind == "loading":
        return ModelLoading(event.get("label", ""))
    if kind == "loaded":
        return ModelLoaded(event.get("label", ""), bool(event.get("has_adapter")))
    if kind == "error":
        return ChatFailed(str(event.get("message", "error")))
    return None


class ChatSession:
    """One chat model for the whole App: what can be chosen, loading it, asking, stopping,
    closing."""

    def __init__(
        self,
        *,
        service_factory: ServiceFactory | None = None,
        targets: Callable[[bool | None], list[TargetChoice]] = list_targets,
    ) -> None:
        """`service_factory(emit)` makes the chat service (default: the engine's ChatService);
        `targets(has_gpu)` lists what can be chosen (default: run adapters, then models/)."""
        self.service_factory = service_factory
        self.targets = targets
        self.service: ChatService | None = None  # made on the first load
        self.view: MessagePump | None = None  # where the service's events go: the Chat screen

    # ---- in a worker thread (each may import mlx-lm: seconds) ---------------------------------
    def list_choices(self, has_gpu: bool | None) -> list[TargetChoice]:
        """What can be chatted with; `has_gpu` None detects it."""
        try:
            return self.targets(has_gpu)
        finally:
            release_mlx_streams()

    def prepare(self, choice: TargetChoice) -> ChatTarget:
        """Build the chosen target, and import the service here so that starting it later is
        quick."""
        try:
            target = choice.build()
            self._factory()
            return target
        finally:
            release_mlx_streams()

    # ---- on the UI thread ---------------------------------------------------------------------
    def load(self, target: ChatTarget) -> None:
        self._started().load(target)

    def ask(self, messages: list[dict], **settings) -> None:
        """Answer `messages` (sides, temperature, top_p, max_tokens as ChatService.ask takes
        them)."""
        self._started().ask(messages, **settings)

    def stop_generation(self) -> None:
        if self.service is not None:
            self.service.stop_generation()

    def close(self) -> None:
        """Join the MLX thread: MLX needs that before the process exits."""
        if self.service is not None:
            self.service.close()
            self.service = None

    def _factory(self) -> ServiceFactory:
        if self.service_factory is None:
            from farense_tui.engine.chat.service import ChatService

            self.service_factory = ChatService
        return self.service_factory

    def _started(self) -> ChatService:
        if self.service is None:
            self.service = self._factory()(self._emit)
        return self.service

    def _emit(self, event: dict) -> None:
        """Runs on the chat thread: post a message and nothing else (post_message is
        thread-safe)."""
        message, view = message_for_event(event), self.view
        if message is not None and view is not None:
            view.post_message(message)
