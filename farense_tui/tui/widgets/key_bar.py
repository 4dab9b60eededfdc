"""A one-line key bar: the current screen's keys as text, each clickable.

Used instead of Textual's Footer on the cockpit's own screens: the Footer rebuilds a widget per
key whenever the bindings change (every screen switch), which was the largest part of the cost
of switching screens; this renders one line of text, built again only when the keys shown or
the width changed.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.widget import Widget


class KeyBar(Widget):
    """Keys of the focused chain with `show=True`, deduplicated by action, then the palette key."""

    DEFAULT_CSS = """
    KeyBar { height: 1; dock: bottom; background: $footer-background; color: $footer-foreground; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._line: tuple[tuple, Content] | None = None  # (what it shows, the line)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_updated)

    def _bindings_updated(self, _screen) -> None:
        # The bindings are "updated" on every screen switch, mostly to the same keys: the bar is
        # redrawn only when the keys, their state or the width really changed (a refresh throws
        # away the drawn line, and drawing it again was a tenth of a switch).
        if self._line is None or self._line[0] != self._shows(*self._keys()):
            self.refresh()

    def render(self) -> Content:
        keys, palette = self._keys()
        shows = self._shows(keys, palette)
        if self._line is None or self._line[0] != shows:
            self._line = shows, self._build(keys, palette)
        return self._line[1]

    def _shows(self, keys: list, palette: Binding | None) -> tuple:
        return (
            self.size.width,
            palette,
            tuple((b.key, b.action, b.description, on) for b, on in keys),
        )

    def _keys(self) -> tuple[list, Binding | None]:
        """(binding, enabled) pairs to show, and the command palette's binding."""
        keys, seen, palette = [], set(), None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "app.command_palette" or binding.action == "command_palette":
                palette = binding
            elif binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append((binding, enabled))
        return keys, palette

    def _build(self, keys: list, palette: Binding | None) -> Content:
        parts: list[Content | str] = []
        for binding, enabled in keys:
            key = self.app.get_key_display(binding)
            # Binding keys are plain names (p, ctrl+s, f1), safe inside the click action.
            item = Content.from_markup(
                f"[@click=app.simulate_key('{binding.key}')][bold $footer-key-foreground]$key[/] "
                f"$label[/]",
                key=key,
                label=binding.description,
            )
            parts.append(item if enabled else item.stylize("dim"))
            parts.append("  ")
        line = Content.assemble(" ", *parts)
        if palette is not None:
            tail = Content.from_markup(
                "[bold $footer-key-foreground]$key[/] palette ",
                key=self.app.get_key_display(palette),
            )
            gap = self.size.width - len(line) - len(tail)
            if gap >= 1:
                line = Content.assemble(line, " " * gap, tail)
        return line
