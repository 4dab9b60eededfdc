"""Every use of Textual's private names, made for fast mode switches; only on the Textual they
were written against (`PATCHED_FOR`, the version pyproject pins), Textual's own behaviour on any
other (`ACTIVE`), so an upgrade cannot silently break a switch: it makes it slower until checked.

What each does and why, by where Textual spends a switch's time (figures in BENCHMARKS.md):
- `SwitchCompositor`: on a switch back, Textual repaints the whole screen and asks every visible
  widget for its lines; each answers from its own line cache, but first walks its ancestors for
  background, opacity and filters. The compositor keeps what each widget gave last time with the
  cached lines it came from; in a switch's repaint, a widget whose cached lines are the very same
  objects (nothing refreshed it since: a refresh clears them) gives that again.
- `PatchedScreen`: a screen made now is styled with the stylesheet as it is now (Textual marks it
  stale and restyled it twice), starts with its width's breakpoint class (set on the first resize,
  a restyle more), is not restyled when it comes back (switch_mode applies CSS and theme changes
  itself), repaints from the lines it drew itself when only a switch refreshes it, and is not laid
  out again when it comes back at the size it was laid out at.
- `PatchedApp`: no 50 ms hold of every frame when switching to a mode visited before (Textual's
  hold hides a half-built screen; one visited before is whole).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Iterable, Self
from weakref import WeakKeyDictionary

from textual import events
from textual.app import App
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

PATCHED_FOR = "8.2.8"
ACTIVE = version("textual") == PATCHED_FOR
if ACTIVE:
    from textual._compositor import Compositor
else:  # another Textual may have moved it; nothing below is used then
    Compositor = object
"""Read when an App or a screen is made (tests set it False to see Textual's own behaviour)."""


class SwitchCompositor(Compositor):
    """Textual's compositor, whose `reusing` paints take unchanged widgets' last lines."""

    def __init__(self) -> None:
        super().__init__()
        self.reusing = False  # set by PatchedScreen around a switch's repaint
        # widget -> (crop, the widget's cached lines it was made from, what it gave)
        self._given: WeakKeyDictionary[Widget, tuple[Region, tuple, list[Strip]]] = (
            WeakKeyDictionary()
        )

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
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


class PatchedApp(App):
    """An App whose switch to a mode visited before is not held back (see the module's words)."""

    patched_switches = False
    returning_to_mode = False  # during switch_mode: to a mode shown before
    switching_modes = False  # during switch_mode

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patched_switches = ACTIVE
        self.modes_shown: set[str] = set()  # kept here: Textual's own record is private

    def has_shown(self, mode: str) -> bool:
        """Whether `mode`'s screen was made already (its first visit is behind it)."""
        return mode == self.current_mode or mode in self.modes_shown

    def switch_mode(self, mode: str):
        self.returning_to_mode, shown = self.has_shown(mode), self.current_mode
        self.switching_modes = True
        try:
            switched = super().switch_mode(mode)
            self.modes_shown.update((shown, mode))
            return switched
        finally:
            self.returning_to_mode = self.switching_modes = False

    def delay_update(self, delay: float = 0.05) -> None:
        if not (self.patched_switches and self.returning_to_mode):
            super().delay_update(delay)


def _app_switching(app: App) -> tuple[bool, bool]:
    """(switching modes, to one shown before): a host App that is no PatchedApp never is."""
    if isinstance(app, PatchedApp):
        return app.switching_modes, app.returning_to_mode
    return False, False


class PatchedScreen(Screen):
    """A screen shown as a mode: it comes back on a switch as it was left, without a restyle."""

    patched_switches = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patched_switches = ACTIVE
        if not ACTIVE:
            return
        self._css_update_count = self.app._css_update_count  # styled as the stylesheet is now
        self._resuming = False
        self._compositor = SwitchCompositor()
        self._switch_repaint = False  # the next paint is a switch's: unchanged widgets as drawn
        own = self.HORIZONTAL_BREAKPOINTS
        breakpoints = (self.app.HORIZONTAL_BREAKPOINTS if own is None else own) or []
        self.add_class(
            *self._get_breakpoint_classes(self.app.size.width, breakpoints), update=False
        )

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        if not self.patched_switches:
            return super()._on_screen_resume(event)
        # Screen's own handler runs here, not after this one, so that its repaint (a plain
        # refresh) is known to be a switch's (see `refresh`).
        event.refresh_styles = False
        event.prevent_default()
        self._resuming = True
        try:
            super()._on_screen_resume(event)
        finally:
            self._resuming = False

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        # A plain refresh throws away the lines the screen itself has drawn (its background: a
        # whole terminal of lines, divided at every widget's edge); on a switch nothing in the
        # screen changed, so the terminal is repainted from the lines already drawn.
        if self.patched_switches and self.is_mounted and not (regions or layout or recompose):
            if self._resuming or _app_switching(self.app)[0]:
                self._repaint_regions.add(self.outer_size.region)
                self._repaint_required = True
                self._switch_repaint = True
                self.check_idle()
                return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _on_timer_update(self) -> None:
        if not self.patched_switches:
            return super()._on_timer_update()
        # A switch's paint may come in two (what changed size while hidden, then the rest): both
        # take the unchanged widgets' last lines.
        painting = self.is_current and not self.app._batch_count
        self._compositor.reusing = self._switch_repaint and painting
        try:
            super()._on_timer_update()
        finally:
            self._compositor.reusing = False
            if painting:
                self._switch_repaint = False

    def _screen_resized(self, size: Size) -> None:
        # switch_mode lays out and paints the screen it shows, then its ScreenResume lays out
        # and repaints it again: a mode coming back at the size it was laid out at was drawn
        # twice per switch.
        if self.patched_switches and _app_switching(self.app)[1] and size == self._compositor.size:
            return
        super()._screen_resized(size)
