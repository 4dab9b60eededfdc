"""A mode that comes back is painted from what its widgets last drew, and only that is reused.

The switch compositor (tui/switch_compositor.py) hands back a widget's last lines when its own
line cache is untouched. These tests compare its paint with Textual's own at the same moment,
after changes made while the screen was hidden, so a stale line cannot pass for a fresh one.
"""

from __future__ import annotations

from textual.widgets import Static

from farense_tui.tui.app import create_app
from farense_tui.tui.switch_compositor import SwitchCompositor
from tests.tui.conftest import T0, fabricate_run, training_history, wait_until


def lines(update) -> list[str]:
    """A full update's lines: the text and style of every segment."""
    return [repr([(seg.text, seg.style) for strip in line for seg in strip]) for line in update.strips]


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


async def test_a_returning_mode_shows_what_changed_while_hidden_and_the_rest_as_drawn(monkeypatch):
    stopped = {"type": "state", "time": T0 + 50, "state": "stopped", "message": "stopped at step 12"}
    run_dir = fabricate_run("20260101-120000-tiny-llama",
                            training_history(total=30, upto=12, recovery_at=None) + [stopped])
    paints = checked_switch_paints(monkeypatch)
    app = create_app(attach_live=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for key, mode in (("2", "training"), ("3", "monitor"), ("1", "config"), ("2", "training")):
            await pilot.press(key)
            await wait_until(pilot, lambda: app.current_mode == mode, what=mode)
        await pilot.pause(0.3)
        config = app.screen_stack[0] if app.current_mode == "config" else app._screen_stacks["config"][0]
        config.query_one("#start-note", Static).update("changed while hidden")
        app.attach(run_dir)  # every screen's run header changes too
        await wait_until(pilot, lambda: app.run_status.step == 12, what="run history")
        before = len(paints)
        await pilot.press("1")
        await wait_until(pilot, lambda: app.current_mode == "config", what="config")
        await pilot.pause(0.3)
        assert len(paints) > before, "the return to Config was not painted as a switch"
        shown = paints[before]
        assert any("changed while hidden" in line for line in shown)
        assert any("20260101-120000-tiny-llama" in line for line in shown)
    assert len(paints) >= 3  # Training, Config and Training again before: each checked
