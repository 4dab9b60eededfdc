"""The App shell: modes and keys, the header on every screen, the palette, the watcher,
recoveries."""

from __future__ import annotations

import json

from farense_tui.engine.runs import folder
from farense_tui.engine.runs.follow import follow
from farense_tui.tui.app import create_app
from farense_tui.tui.widgets.chrome import RunHeader
from tests.tui.conftest import T0, fabricate_run, training_history, wait_until

MODES = {"1": "config", "2": "training", "3": "monitor", "4": "chat"}


async def test_keys_switch_modes_and_every_screen_shows_the_run(monkeypatch):
    stopped = {
        "type": "state",
        "time": T0 + 50,
        "state": "stopped",
        "message": "stopped at step 12",
    }
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama",
        training_history(total=30, upto=12, recovery_at=None) + [stopped],
    )
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(run_dir)
        await wait_until(pilot, lambda: app.run_status.step == 12, what="run history")
        for key, mode in MODES.items():  # first visit builds each screen
            await pilot.press(key)
            await wait_until(pilot, lambda: app.current_mode == mode, what=mode)
        for key, mode in [*MODES.items()] * 3:
            await pilot.press("escape")  # out of the chat's text box, where digits are text
            await pilot.press(key)
            assert app.current_mode == mode
            header = app.screen.query_one(RunHeader)
            assert "20260101-120000-tiny-llama" in str(header.render()), mode
            assert "step 12/30" in str(header.render())
        await pilot.press("4")
        app.screen.query("Input").first().focus()
        await pilot.press("f2")  # F-keys switch even from a text box
        assert app.current_mode == "training"


async def test_palette_offers_modes_run_control_and_screen_keys():
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in (
            "Go to Config",
            "Go to Monitor",
            "Go to Chat",
            "Pause or continue the run",
            "Stop and save the run",
            "Save a checkpoint now",
            "Switch the run's profile",
            "Attach",
            "Resume",
            "Quit",
        ):
            assert title in titles, (title, titles)
        await pilot.press("1")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Start", "Save as profile", "Go to Training"} <= titles


async def test_a_live_recovery_shows_a_notice_a_log_line_and_a_banner(monkeypatch):
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=9, recovery_at=None)
    )
    monkeypatch.setattr(folder, "is_alive", lambda path: True)
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        app.attach(run_dir)
        await wait_until(
            pilot, lambda: app.run_status.step == 9 and app.run_status.alive, what="history"
        )
        recovery = next(
            e
            for e in training_history(total=30, upto=10, recovery_at=10)
            if e["type"] == "recovery"
        )
        with open(run_dir / "events.jsonl", "a") as fh:
            fh.write(json.dumps(recovery) + "\n")
        await wait_until(
            pilot, lambda: app.run_status.last_recovery is not None, what="the recovery event"
        )
        await pilot.pause()
        notices = [n for n in app._notifications if n.title == "Recovered"]
        assert notices and "batch 4→2, accumulation 2→4" in notices[0].message
        banner = app.screen.query_one("#banner")
        assert banner.has_class("-warning") and "Restarted from step 10" in str(banner.render())
        log = app.screen.query_one("#events")
        assert any(e["type"] == "recovery" for e in log.events)


async def test_the_tui_stays_up_and_says_so_when_the_engine_dies(monkeypatch):
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=9, recovery_at=None)
    )
    alive = {"now": True}
    monkeypatch.setattr(folder, "is_alive", lambda path: alive["now"])
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(run_dir)  # stays on Config: the dialog waits for the Training screen
        await wait_until(pilot, lambda: app.run_status.alive, what="alive")
        alive["now"] = False
        await wait_until(pilot, lambda: app.run_status.status == "dead", what="dead")
        await pilot.pause()
        assert any("gone" in n.message for n in app._notifications)
        assert "dead" in str(app.screen.query_one(RunHeader).render())
        await pilot.press("2")
        await wait_until(
            pilot, lambda: type(app.screen).__name__ == "ChoiceDialog", what="resume offered"
        )
        await pilot.press("escape")
        assert app.is_running


def test_follow_calls_back_once_per_batch_and_on_liveness_changes(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in training_history(upto=3))
    )
    batches, liveness, checks = [], [], {"n": 0}

    def is_alive(path) -> bool:
        checks["n"] += 1
        if checks["n"] == 2:  # a second batch arrives while watching
            with open(run_dir / "events.jsonl", "a") as fh:
                fh.write(
                    json.dumps({"type": "state", "time": T0, "state": "paused", "message": ""})
                    + "\n"
                )
        return checks["n"] <= 3

    follow(
        run_dir,
        batches.append,
        lambda: checks["n"] >= 6,
        on_liveness=liveness.append,
        is_alive=is_alive,
        poll=(0.01, 0.01),
        liveness_every=0,
    )
    assert len(batches) == 2 and batches[1][0]["state"] == "paused"
    assert len(batches[0]) == len(training_history(upto=3))
    assert liveness == [True, False]
