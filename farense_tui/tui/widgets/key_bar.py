"""A one-line key bar: the current screen's keys as text, each clickable.

Used instead of Textual's Footer on the cockpit's own screens: the Footer rebuilds a widget per
key whenever the bindings change (every screen switch), which was the largest part of the cost
of switching screens; this renders one line of text.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget


class KeyBar(Widget):
    """Keys of the focused chain with `show=True`, deduplicated by action, then the palette key."""

    DEFAULT_CSS = """
    KeyBar { height: 1; dock: bottom; background: $footer-background; color: $footer-foreground; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def render(self) -> Content:
        parts: list[Content | str] = []
        seen: set[str] = set()
        palette = None
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.action == "app.command_palette" or binding.action == "command_palette":
                palette = binding
                continue
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            # Binding keys are plain names (p, ctrl+s, f1), safe inside the click action.
            item = Content.from_markup(
                f"[@click=app.simulate_key('{binding.key}')][bold $footer-key-foreground]$key[/] $label[/]",
                key=key, label=binding.description,
            )
            parts.append(item if enabled else item.stylize("dim"))
            parts.append("  ")
        line = Content.assemble(" ", *parts)
        if palette is not None:
            tail = Content.from_markup("[bold $footer-key-foreground]$key[/] palette ",
                                       key=self.app.get_key_display(palette))
            gap = self.size.width - len(line) - len(tail)
            if gap >= 1:
                line = Content.assemble(line, " " * gap, tail)
        return line
