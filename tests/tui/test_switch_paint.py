"""Every path of Textual patched for switch speed (tui/textual_patches.py), and the fallback to
Textual's own behaviour that another Textual version gets (`ACTIVE` False).

The switch compositor hands back a widget's last lines when its own line cache is untouched.
These tests compare its paint with Textual's own at the same moment, after changes made while
the screen was hidden, so a stale line cannot pass for a fresh one. The other patches each skip
a piece of Textual's work on a switch: with them on, that piece is not run; with them off, it is,
and in both cases the screen shows what changed while it was hidden.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from textual._compositor import Compositor
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from farense_tui.tui import textual_patches
from farense_tui.tui.app import create_app
from farense_tui.tui.textual_patches import SwitchCompositor
from tests.tui.conftest import T0, fabricate_run, training_history, wait_until


def lines(update) -> list[str]:
    """A full update's lines: the text and style of every segment."""
    return [
        repr([(seg.text, seg.style) for strip in line for seg in strip]) for line in update.strips
    ]


def checked_switch_paints(monkeypatch) -> list[list[str]]:
    """Every switch's paint, each checked against Textual's own paint of the same moment."""
    paints: list[list[str]] = []
    render_full_update = SwitchCompositor.render_full_update

    def checked(self: SwitchCompositor, simplify: bool = False):
        update = render_full_update(self, simplify)
        if self.reusing:
            kept, self._given = self._given, type(self._given)()
            self.reusing = False
            try:
                assert lines(render_full_update(self, simplify)) == lines(update)
            finally:
                self._given, self.reusing = kept, True
            paints.append(lines(update))
        return update

    monkeypatch.setattr(SwitchCompositor, "render_full_update", checked)
    return paints


def stopped_run():
    stopped = {
        "type": "state",
        "time": T0 + 50,
        "state": "stopped",
        "message": "stopped at step 12",
    }
    return fabricate_run(
        "20260101-120000-tiny-llama",
        training_history(total=30, upto=12, recovery_at=None) + [stopped],
    )


async def visit_all_then_change_config_while_hidden(app, pilot) -> None:
    """Training, Monitor, Config and Training shown; then Config's note and every screen's run
    header change while Training is shown."""
    for key, mode in (("2", "training"), ("3", "monitor"), ("1", "config"), ("2", "training")):
        await pilot.press(key)
        await wait_until(pilot, lambda: app.current_mode == mode, what=mode)
    await pilot.pause(0.3)
    app._screen_stacks["config"][0].query_one("#start-note", Static).update("changed while hidden")
    app.attach(stopped_run())  # every screen's run header changes too
    await wait_until(pilot, lambda: app.run_status.step == 12, what="run history")


async def return_to_config(app, pilot) -> None:
    await pilot.press("1")
    await wait_until(pilot, lambda: app.current_mode == "config", what="config")
    await pilot.pause(0.3)


async def test_a_returning_mode_shows_what_changed_while_hidden_and_the_rest_as_drawn(monkeypatch):
    paints = checked_switch_paints(monkeypatch)
    app = create_app(attach_live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await visit_all_then_change_config_while_hidden(app, pilot)
        before = len(paints)
        await return_to_config(app, pilot)
        assert len(paints) > before, "the return to Config was not painted as a switch"
        shown = paints[before]
        assert any("changed while hidden" in line for line in shown)
        assert any("20260101-120000-tiny-llama" in line for line in shown)
    assert len(paints) >= 3  # Training, Config and Training again before: each checked


@pytest.fixture(params=[True, False], ids=["patched", "textual"])
def patched(request, monkeypatch) -> bool:
    """Both paths: the patches on (Textual 8.2.8), and Textual's own behaviour (another version)."""
    monkeypatch.setattr(textual_patches, "ACTIVE", request.param)
    return request.param


async def test_a_screen_is_made_as_the_stylesheet_and_width_are_now(patched):
    app = create_app(attach_live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        made = app.MODES["training"]()  # made, not mounted: what its __init__ did
        compositor = made._compositor
        if patched:
            assert made._css_update_count == app._css_update_count
            assert made.has_class("-wide")
            assert type(compositor) is SwitchCompositor
        else:  # Textual's own: stale styles, no width class until mounted, its compositor
            assert made._css_update_count == -1
            assert not made.has_class("-wide")
            assert type(compositor) is Compositor
        assert type(app.screen._compositor) is type(compositor)


async def test_a_return_skips_textual_restyle_relayout_repaint_and_hold_only_when_patched(
    patched, monkeypatch
):
    """On a return to a mode shown before, Textual's restyle of the screen, its layout at an
    unchanged size, its plain refresh and its 50 ms hold of frames are skipped when patched and
    run when not; either way Config shows what changed while it was hidden."""
    ran: list[str] = []  # Textual's own work reached during a return's switch or resume
    window = [False]

    def spy(cls, name: str, opens_window: bool = False):
        original = getattr(cls, name)

        def record(self, *args, **kwargs):
            if window[0] and self in (app, app.screen):
                ran.append(name)
            if not opens_window:
                return original(self, *args, **kwargs)
            window[0] = True
            try:
                return original(self, *args, **kwargs)
            finally:
                window[0] = False

        monkeypatch.setattr(cls, name, record)

    app = create_app(attach_live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await visit_all_then_change_config_while_hidden(app, pilot)
        spy(App, "switch_mode", opens_window=True)
        spy(Screen, "_on_screen_resume", opens_window=True)
        for cls, name in (
            (Screen, "update_node_styles"),
            (Screen, "_screen_resized"),
            (Screen, "refresh"),
            (App, "delay_update"),
        ):
            spy(cls, name)
        await return_to_config(app, pilot)
        shown = lines(app.screen._compositor.render_full_update())
        skipped = {"update_node_styles", "_screen_resized", "delay_update", "refresh"}
        if patched:
            assert not skipped & set(ran), ran
        else:
            assert skipped <= set(ran), ran
    assert any("changed while hidden" in line for line in shown)
    assert any("20260101-120000-tiny-llama" in line for line in shown)


def redrawn(screen: Screen) -> list[str]:
    """The screen's lines with every line cache dropped: drawn again with the styles as they are."""
    for node in (screen, *screen.walk_children()):
        node._styles_cache.clear()
    return lines(screen._compositor.render_full_update())


async def test_a_theme_change_while_hidden_shows_in_the_new_colours(patched, monkeypatch):
    """The patched screen keeps its own drawn lines on a switch: after a theme change, made while
    the screen is hidden or shown, its return paints as Textual's own paint does and as the screen
    drawn again from scratch."""
    paints = checked_switch_paints(monkeypatch)
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_mode == "training", what="training")
        await pilot.pause(0.3)
        dark = lines(app._screen_stacks["config"][0]._compositor.render_full_update())
        app.theme = "textual-light"
        await pilot.pause(0.3)
        before = len(paints)
        await return_to_config(app, pilot)
        light = lines(app.screen._compositor.render_full_update())
        assert light == redrawn(app.screen)
        app.theme = "textual-dark"  # now while Config is shown, then away and back
        await pilot.pause(0.3)
        await pilot.press("2")
        await wait_until(pilot, lambda: app.current_mode == "training", what="training")
        await return_to_config(app, pilot)
        assert lines(app.screen._compositor.render_full_update()) == redrawn(app.screen)
    assert light != dark
    assert (len(paints) > before) is patched  # each reused paint checked against Textual's own


def test_another_textual_version_gets_textual_own_behaviour():
    """The version check itself: on another Textual the patches are off, and this module does not
    import Textual's private compositor."""
    code = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '9.0.0' if name == 'textual' else real(name)\n"
        "from farense_tui.tui import textual_patches as t\n"
        "assert not t.ACTIVE and t.Compositor is object, t.ACTIVE\n"
        "from farense_tui.tui.app import create_app\n"
        "assert create_app(attach_live=False).patched_switches is False\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
