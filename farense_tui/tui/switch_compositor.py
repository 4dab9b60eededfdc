"""A mode that comes back repaints from the lines each widget last put on the terminal.

On a switch back to a mode, Textual repaints the whole screen and asks every visible widget for
its lines. Each widget answers from its own line cache, but first works out its background,
opacity and filters by walking its ancestors: ~0.1 ms a widget, 10-15 ms for Config's 100
widgets at 120x40, most of a switch. Here the compositor keeps what each widget gave last time
with the cached lines it came from; in a switch's repaint, a widget whose cached lines are the
very same objects (nothing refreshed it since: a refresh clears them) gives that again.
Everything else, and every other paint, goes through Textual unchanged.
"""

from __future__ import annotations

from typing import Iterable
from weakref import WeakKeyDictionary

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


class SwitchCompositor(Compositor):
    """Textual's compositor, whose `reusing` paints take unchanged widgets' last lines."""

    def __init__(self) -> None:
        super().__init__()
        self.reusing = False  # set by CockpitScreen around a switch's repaint
        # widget -> (crop, the widget's cached lines it was made from, what it gave)
        self._given: WeakKeyDictionary[Widget, tuple[Region, tuple, list[Strip]]] = WeakKeyDictionary()

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        visible = self.visible_widgets
        for widget, (region, clip) in visible.items():
            if crop and not crop.overlaps(clip):
                continue
            if clip.contains_region(region):
                lines = Region(0, 0, region.width, region.height)
            else:
                x, y, width, height = region.intersection(clip)
                if not (width and height):
                    continue
                lines = Region(x - region.x, y - region.y, width, height)
            yield region, clip, self._lines(widget, lines)

    def _lines(self, widget: Widget, crop: Region) -> list[Strip]:
        cache = widget._styles_cache
        plain = type(widget).render_lines is Widget.render_lines and not widget.BLANK
        if not plain or (widget.auto_links and widget.hover_style._link_id):
            # its own render_lines, or the pointer on a link (styled after the cache): ask it
            return widget.render_lines(crop)
        given = self._given.get(widget)
        if self.reusing and given is not None and given[0] == crop and not cache._dirty_lines:
            cached = cache._cache
            if all(cached.get(y) is line for y, line in zip(crop.line_range, given[1])):
                return given[2]
        strips = widget.render_lines(crop)
        cached = cache._cache
        self._given[widget] = crop, tuple(cached.get(y) for y in crop.line_range), strips
        return strips
