"""The Evaluate screen (key 5) on a tiny run: start, cancel, start again and read the table."""

from __future__ import annotations

import shutil

from textual.widgets import DataTable, Select

from farense_tui.tui.app import create_app
from tests.engine_helpers import start_run, tiny_config, wait_done
from tests.tui.conftest import wait_until


async def test_evaluation_from_the_screen_cancels_then_runs_to_its_table(tiny_model_dir, tiny_data):
    shutil.copy(tiny_data / "valid.jsonl", tiny_data / "test.jsonl")
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data, iters=4, save_every=2, eval_every=2))
    assert wait_done(run_dir).status == "finished"
    app = create_app(attach_live=False, detect_hardware=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await wait_until(
            pilot, lambda: f"{run_dir}:best" in screen.targets, what="the run's adapters listed"
        )
        screen.query_one("#target", Select).value = f"{run_dir}:best"
        status = lambda: str(screen.query_one("#status").render())  # noqa: E731

        screen.query_one("#max_tokens").value = "200"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "answers" in status(), 120, what="the first answers")
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: not screen.running, 120, what="the cancel")
        assert "cancelled" in status() and not (run_dir / "eval" / "best-test.json").exists()
        assert screen.query_one("#progress").total == 1  # still again, not an endless bar

        screen.query_one("#max_tokens").value = "8"
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: not screen.running and screen.answers, 180, what="the table"
        )
        metrics = screen.query_one("#metrics", DataTable)
        labels = [metrics.get_row_at(i)[0] for i in range(metrics.row_count)]
        assert labels == ["exact match", "token F1", "ROUGE-L F", "test loss", "perplexity"]
        assert status().startswith("done:") and (run_dir / "eval" / "best-test.json").exists()
        answers = screen.query_one("#answers", DataTable)
        assert answers.row_count == 6  # every test example, adapter side

        await pilot.press("ctrl+o")
        misses = sum(1 for a in screen.answers if a["side"] == "adapter" and not a["exact_match"])
        assert answers.row_count == misses

        # Model text is data: markup in an answer is shown as written.
        screen.answers = [{**screen.answers[0], "answer": "[bold red]x[/]", "exact_match": 0.0}]
        screen.show_answers()
        assert answers.get_row_at(0)[5].plain == "[bold red]x[/]"
