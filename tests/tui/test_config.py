"""The Config screen without training: profile choice, inline validation, data check, save as
profile."""

from __future__ import annotations

from textual.widgets import Input, Select, Static

from farense_tui.engine.profiles.profile import load_profile
from farense_tui.tui.app import create_app
from farense_tui.tui.dialogs.prompts import NamePrompt
from tests import tiny_model
from tests.tui.conftest import wait_until


def text(widget) -> str:
    return str(widget.render())


async def test_profile_is_chosen_for_the_machine_and_settings_follow_the_select(farense_home):
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(
            pilot,
            lambda: screen.query_one("#profile", Select).value == "mac-16gb",
            what="auto profile",
        )
        assert "16 GB RAM" in text(screen.query_one("#profile-reason"))
        screen.query_one("#profile", Select).value = "mac-8gb"
        await wait_until(pilot, lambda: screen.profile.name == "mac-8gb", what="profile loaded")
        assert screen.query_one("#field-batch_size", Input).value == str(
            load_profile("mac-8gb").batch_size
        )
        assert "Chosen by you" in text(screen.query_one("#profile-reason"))


async def test_a_bad_value_says_what_is_allowed_and_blocks_start(farense_home):
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: app.hardware is not None, what="hardware")
        field = screen.query_one("#field-batch_size", Input)
        field.focus()
        await pilot.press("x", "9")  # focus selects the old value, so typing replaces it
        hint = screen.query_one("#hint-batch_size", Static)
        await wait_until(pilot, lambda: hint.has_class("-invalid"), what="the error")
        assert text(hint) == "expected a whole number from 1 to 512"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.current_mode == "config" and not list((farense_home / "runs").iterdir())
        assert any("Fix batch_size" in n.message for n in app._notifications)
        await pilot.press("backspace", "backspace", "8")
        await wait_until(pilot, lambda: not hint.has_class("-invalid"), what="the error to clear")
        assert screen.profile.batch_size == 8


async def test_data_problems_are_shown_and_block_start(farense_home, home_model):
    bad = farense_home / "data" / "broken"
    tiny_model.write_data(bad)
    (bad / "valid.jsonl").unlink()
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.query_one("#data-path", Input).value = "data/broken"
        summary = screen.query_one("#data-summary", Static)
        await wait_until(
            pilot, lambda: "valid.jsonl missing" in text(summary), what="the data check"
        )
        assert "train  24 examples, chat · tokens" in text(
            summary
        )  # counted with the model's tokenizer
        await pilot.press("ctrl+s")
        # Refused at once from the check shown, or, when a profile change made a new check due,
        # by the start's own check (plan_run) a moment later: either way, said and nothing started.
        refused = ("The data has problems", "the data is not ready")
        await wait_until(
            pilot,
            lambda: any(r in n.message for n in app._notifications for r in refused),
            what="the refusal",
        )
        assert not list((farense_home / "runs").iterdir())


async def test_save_as_profile_writes_the_edited_settings(farense_home):
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.profile.name == "mac-16gb", what="auto profile")
        screen.query_one("#field-lora_rank", Input).value = "16"
        await wait_until(pilot, lambda: screen.profile.lora_rank == 16, what="edit applied")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, NamePrompt), what="the name prompt")
        await pilot.press(*"rank16", "enter")  # the suggested name is selected: typing replaces it
        await wait_until(
            pilot, lambda: (farense_home / "profiles" / "rank16.toml").exists(), what="the file"
        )
        saved = load_profile("rank16")
        assert saved.lora_rank == 16 and saved.batch_size == load_profile("mac-16gb").batch_size
        assert screen.query_one("#profile", Select).value == "rank16"


async def test_text_data_starts_from_config_with_the_default_profile(farense_home, home_model):
    """The auto profile masks prompts; text data has none, so Config says it trains on all tokens
    and Start runs it to the end."""
    from tests.engine_helpers import events, wait_done

    tiny_model.write_text_data(farense_home / "data" / "sql")
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(
            pilot,
            lambda: screen.query_one("#profile", Select).value == "mac-16gb",
            what="auto profile",
        )
        screen.query_one("#data-path", Input).value = "data/sql"
        summary = screen.query_one("#data-summary", Static)
        await wait_until(pilot, lambda: "✓ ready to train" in text(summary), what="the data check")
        assert "text format has no prompt to mask: training on all tokens" in text(summary)
        assert screen.profile.mask_prompt
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.current_mode == "training", 60, what="the run to start")
        run_dir = app.run_status.run_dir
    assert wait_done(run_dir).status == "finished"
    notes = [e for e in events(run_dir, "note") if e["kind"] == "data"]  # the data note, said once
    assert len(notes) == 1 and "training on all tokens" in notes[0]["message"]


async def test_config_shows_what_the_data_will_cost(farense_home, home_model):
    """Steps and tokens from the data and the profile as edited; time per epoch from the speed an
    earlier run of this model measured."""
    from tests.test_data_cost import fabricated_run

    tiny_model.write_data(farense_home / "data")
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(
            pilot,
            lambda: screen.query_one("#profile", Select).value == "mac-16gb",
            what="auto profile",
        )
        cost = screen.query_one("#data-cost", Static)
        await wait_until(
            pilot, lambda: "not measured yet" in text(cost), what="the cost without a speed"
        )
        fabricated_run("20260102-100000-tiny-llama", str(home_model), [(300, 1.5)] * 4)
        await pilot.press("ctrl+r")  # a run has measured the speed since: check again
        await wait_until(pilot, lambda: "per epoch" in text(cost), what="the cost with the speed")
        assert "24 examples: 3 steps/epoch, 9 steps (3 epochs)" in text(cost)  # batch 4×2
        assert "at 200 tok/s" in text(cost) and "4 steps of run 20260102-100000-tiny-llama" in text(
            cost
        )
        screen.query_one("#field-epochs", Input).value = "5"
        await wait_until(
            pilot, lambda: "15 steps (5 epochs)" in text(cost), what="the cost to follow the edit"
        )


async def test_a_bad_ranks_setting_is_named_and_blocks_start(farense_home, tmp_path):
    """A hostfile that is not mlx.launch's is named with its line; Start is refused; the text
    stays."""
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text('[{"ssh": "mac1", "ips": ["10.0.0.1"]},\n {"ssh": "mac2" "ips": []}]\n')
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: app.hardware is not None, what="hardware")
        screen.query_one("#ranks", Input).value = str(hostfile)
        hint = screen.query_one("#ranks-hint", Static)
        await wait_until(pilot, lambda: hint.has_class("-invalid"), what="the error")
        assert f"{hostfile}, line 2, column 17: not valid JSON" in text(hint)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.current_mode == "config" and not list((farense_home / "runs").iterdir())
        assert any("Fix ranks first" in n.message for n in app._notifications)
        assert screen.query_one("#ranks", Input).value == str(hostfile)
        hostfile.write_text('{"backend": "jaccl", "hosts": [{"ssh": "mac1"}, {"ssh": "mac2"}]}')
        screen.query_one("#backend", Select).value = "jaccl"  # any change checks the file again
        await wait_until(pilot, lambda: not hint.has_class("-invalid"), what="the error to clear")
        assert text(hint) == "2 ranks from hosts.json (mac1, mac2), jaccl"
        screen.query_one("#ranks", Input).value = "0"
        await wait_until(
            pilot,
            lambda: "ranks: 0 is not a whole number of 1 or more" in text(hint),
            what="0 refused",
        )


async def test_two_ranks_started_from_config_show_each_ranks_figures(farense_home, home_model):
    """Ranks 2 on Config: the run is planned and started as the CLI's --ranks 2 is (plan_run,
    start_plan), its two ranks train through mlx.launch, and Training shows both ranks' figures."""
    from farense_tui.engine.runs import commands
    from farense_tui.engine.runs.config import RunConfig
    from tests.engine_helpers import wait_done

    tiny_model.write_data(farense_home / "data")
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(
            pilot, lambda: screen.report is not None and screen.report.ok, what="the data check"
        )
        screen.query_one("#ranks", Input).value = "2"
        await wait_until(
            pilot,
            lambda: text(screen.query_one("#ranks-hint")) == "2 ranks on this machine, ring",
            what="the ranks checked",
        )
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.current_mode == "training", 60, what="the run to start")
        run_dir = app.run_status.run_dir
        figures = app.screen.query_one("#figures", Static)
        await wait_until(pilot, lambda: "rank 1:" in text(figures), 120, what="both ranks' figures")
        assert "rank 0:" in text(figures) and "tok/s" in text(figures)
        assert "profile mac-16gb · 2 ranks on this machine, ring" in text(
            app.screen.query_one("#state")
        )
        commands.send(run_dir, "stop")
    cfg = RunConfig.load(run_dir / "config.toml")
    assert (cfg.ranks, cfg.hosts, cfg.backend) == (2, "", "ring")
    assert wait_done(run_dir).status in ("stopped", "finished")


async def test_a_stage_two_run_starts_from_a_picked_run_and_checkpoint(
    farense_home, home_model, tiny_data
):
    """Config lists the runs and their checkpoints; fuse without a run is refused like a bad field;
    a picked RUN:CHECKPOINT starts a run whose config names its parent and starts from its
    adapter."""
    from farense_tui.engine.runs.config import RunConfig
    from farense_tui.tui.widgets.from_run import FromRunField
    from tests.engine_helpers import start_run, tiny_config, wait_done

    parent = start_run(tiny_config(home_model, tiny_data, iters=4))
    assert wait_done(parent).status == "finished"
    app = create_app(attach_live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(
            pilot,
            lambda: screen.query_one("#profile", Select).value == "mac-16gb",
            what="auto profile",
        )
        screen.query_one("#data-path", Input).value = "data/tiny"
        picker = screen.query_one("#from-run", Select)
        offered = lambda: [v for _, v in picker._options]  # noqa: E731
        await wait_until(pilot, lambda: f"{parent.name}:best" in offered(), what="the runs listed")
        assert offered() == ["", f"{parent.name}:best", f"{parent.name}:final", f"{parent.name}:4"]
        field, hint = screen.query_one(FromRunField), screen.query_one("#from-hint", Static)
        screen.query_one("#from-fuse").value = True
        await wait_until(
            pilot, lambda: hint.has_class("-invalid"), what="fuse without a run refused"
        )
        await pilot.press("ctrl+s")
        await wait_until(
            pilot,
            lambda: any(
                "Fix from first: fuse fuses the run picked here" in n.message
                for n in app._notifications
            ),
            what="the refusal",
        )
        assert not [p for p in (farense_home / "runs").iterdir() if p != parent]

        screen.query_one("#from-fuse").value = False
        picker.value = f"{parent.name}:4"
        await wait_until(pilot, lambda: field.spec and not field.error, what="the pick checked")
        assert text(hint).startswith(
            f"starts from {parent.name}:4's adapter, on its base {home_model}"
        )
        await wait_until(
            pilot,
            lambda: "✓ ready to train" in text(screen.query_one("#data-summary")),
            what="data",
        )
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.current_mode == "training", 60, what="the run to start")
        child = app.run_status.run_dir
    cfg = RunConfig.load(child / "config.toml")
    assert cfg.parent == f"{parent.name}:4" and cfg.init_adapter == str(
        parent / "checkpoints" / "step-0000004"
    )
    assert cfg.model == str(home_model) and wait_done(child).status == "finished"
