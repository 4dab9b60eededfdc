"""Pilot tests of Config → Training with real runs of the tiny model (seconds each, real engine)."""

from __future__ import annotations

from collections import deque

from textual.widgets import Button, Input, Select

from farense_tui.engine import runs
from farense_tui.engine.runs import folder
from farense_tui.engine.runs.events import read_all
from farense_tui.tui.app import create_app
from farense_tui.tui.dialogs.export import ExportDialog
from farense_tui.tui.dialogs.prompts import ChoiceDialog, ProfilePicker
from farense_tui.tui.widgets.event_log import EventLog
from farense_tui.tui.widgets.runs_table import RunsTable
from tests.engine_helpers import start_run, tiny_config
from tests.tui.conftest import (
    click_laid_out,
    event_types,
    fabricate_run,
    kill_engine,
    training_history,
    wait_until,
)

TINY_FIELDS = {
    "batch_size": "2",
    "grad_accumulation": "2",
    "iters": "8",
    "save_every": "4",
    "eval_every": "4",
    "warmup_steps": "2",
    "lora_layers": "-1",
    "learning_rate": "0.01",
    "max_seq_length": "256",
}


def table_status(app, run_id: str) -> str | None:
    table = app.screen.query_one(RunsTable)
    info = table.infos.get(str(runs.find_run(run_id)))
    return info.status if info else None


async def test_start_a_run_from_config_and_watch_it_finish(tiny_model_dir, tiny_data):
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        config = app.screen
        await wait_until(pilot, lambda: app.hardware is not None, what="hardware")
        config.query_one("#profile", Select).value = "cpu"
        await wait_until(
            pilot,
            lambda: config.query_one("#field-base_precision", Select).value == "float32",
            what="cpu profile loaded",
        )
        config.query_one("#model-path", Input).focus()
        await pilot.press(*str(tiny_model_dir))  # typed, as a user would
        config.query_one("#data-path", Input).value = str(tiny_data)
        for name, value in TINY_FIELDS.items():
            config.query_one(f"#field-{name}", Input).value = value
        await wait_until(
            pilot,
            lambda: config.profile.iters == 8 and config.profile.lora_layers == -1,
            what="settings applied",
        )
        assert not config.errors
        await pilot.click("#start")

        await wait_until(pilot, lambda: app.current_mode == "training", what="the Training screen")
        status = app.run_status
        assert status.run_dir is not None and status.profile == "cpu"
        await wait_until(
            pilot,
            lambda: app.run_status.status == "finished",
            timeout=120,
            what="the run to finish",
        )
        assert app.run_status.step == 8 and app.run_status.best_val_loss is not None
        assert (
            app.history.train_loss and len(app.history.train_loss) == 8
        )  # the charts' history was fed
        await wait_until(
            pilot, lambda: table_status(app, status.run_id) == "finished", what="runs table"
        )
        assert config.query_one("#start", Button).disabled is False

        await pilot.press("x")  # the Export dialog for the run selected in the table
        dialog = app.screen
        assert isinstance(dialog, ExportDialog) and dialog.run_dir == status.run_dir
        assert dialog.checkpoints[:2] == ["best", "final"]
        await pilot.press("escape")
        assert app.screen is not dialog


async def test_pause_resume_and_stop_keys_reach_the_engine(tiny_model_dir, tiny_data):
    run_dir = start_run(
        tiny_config(tiny_model_dir, tiny_data, iters=3000, eval_every=1000, save_every=1000)
    )
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await wait_until(
            pilot, lambda: table_status(app, run_dir.name) is not None, what="runs table"
        )
        await pilot.press("a")  # attach to the selected (newest) run
        await wait_until(
            pilot,
            lambda: app.run_status.status == "training" and app.run_status.step > 0,
            timeout=60,
            what="training steps",
        )
        await pilot.press("p")
        await wait_until(pilot, lambda: app.run_status.status == "paused", what="paused")
        await pilot.press("p")
        await wait_until(pilot, lambda: app.run_status.status == "training", what="training again")
        await pilot.press("s")
        await wait_until(
            pilot, lambda: app.run_status.status == "stopped", timeout=60, what="stopped"
        )
        await wait_until(pilot, lambda: app.run_status.alive is False, what="the process to end")
    states = event_types(run_dir)
    assert (
        states.index("paused")
        < len(states) - 1 - states[::-1].index("training")
        < states.index("stopped")
    )
    assert any(e for e in ("checkpoint",) if e in event_types(run_dir, "checkpoint"))


async def test_a_dead_run_is_offered_resume_and_resumes(tiny_model_dir, tiny_data):
    # long enough that it is still training when killed, even on a fast idle machine
    run_dir = start_run(
        tiny_config(tiny_model_dir, tiny_data, iters=150, save_every=2, eval_every=1000)
    )
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.switch_mode("training")
        app.attach(run_dir)
        await wait_until(
            pilot, lambda: app.run_status.checkpoint_step >= 2, timeout=60, what="a checkpoint"
        )
        kill_engine(run_dir)
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChoiceDialog), what="the resume dialog"
        )
        assert app.run_status.status == "dead"
        assert "gone" in str(app.screen.query_one(".body").render())
        assert {b.id for b in app.screen.query(Button)} == {"smaller", "as-is", "leave"}
        await click_laid_out(pilot, "#as-is")
        await wait_until(
            pilot,
            lambda: app.run_status.status == "finished",
            timeout=120,
            what="resumed run to finish",
        )
    assert runs.info(run_dir).step == 150


async def test_quitting_with_a_live_run_asks_first(monkeypatch):
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=9, recovery_at=None)
    )
    monkeypatch.setattr(
        folder, "is_alive", lambda path: path == run_dir
    )  # its engine "still running"
    app = create_app(attach_live=True)  # finds the live run at start, as a returning user would
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: app.run_status.run_dir == run_dir and app.run_status.alive,
            what="attached at start",
        )
        assert app.current_mode == "training"
        await pilot.press("q")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChoiceDialog), what="the quit dialog"
        )
        assert {b.id for b in app.screen.query(Button)} == {"leave", "stop", "cancel"}
        await pilot.press("escape")  # cancel: still running, still here
        await wait_until(
            pilot, lambda: not isinstance(app.screen, ChoiceDialog), what="dialog closed"
        )
        assert app.is_running
        await pilot.press("q")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChoiceDialog), what="the quit dialog again"
        )
        await click_laid_out(pilot, "#stop")
    assert app.return_code == 0 and "stopping" in app.farewell
    assert [c["cmd"] for c in read_all(run_dir / "commands.jsonl")] == ["stop"]


async def test_switch_profile_key_sends_the_chosen_profile(monkeypatch):
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=9, recovery_at=None)
    )
    monkeypatch.setattr(folder, "is_alive", lambda path: path == run_dir)
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        app.attach(run_dir)
        await wait_until(
            pilot, lambda: app.run_status.alive and app.run_status.step == 9, what="attached"
        )
        await pilot.press("m")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ProfilePicker), what="the profile list"
        )
        await pilot.press("home", "enter")  # the first profile: cpu (profiles sort by backend, RAM)
        await wait_until(pilot, lambda: not isinstance(app.screen, ProfilePicker), what="picked")
    assert read_all(run_dir / "commands.jsonl")[-1] | {"time": 0} == {
        "cmd": "switch",
        "profile": "cpu",
        "time": 0,
    }


async def test_a_hidden_training_screen_catches_up_when_shown(monkeypatch):
    """Events that arrive while another mode is shown are drawn on the return, not while hidden."""
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=9, recovery_at=None)
    )
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        training = app.screen
        await pilot.press("3")
        app.attach(run_dir)
        await wait_until(pilot, lambda: app.run_status.step == 9, what="run history")
        assert (
            training.shown is not app.run_status and training.query_one(EventLog).events == deque()
        )
        await pilot.press("2")
        await wait_until(pilot, lambda: training.shown is app.run_status, what="caught up")
        assert training.query_one(EventLog).events[-1]["type"] == "checkpoint"
