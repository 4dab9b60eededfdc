"""The Monitor's rewards view: a DPO/ORPO run's reward margin and accuracy, train and val by
step."""

from __future__ import annotations

from pathlib import Path

from farense_tui.engine.runs.history import MetricHistory
from farense_tui.tui.widgets.charts import AccuracyChart, MarginChart
from tests.tui.test_monitor import Host, synthetic_history


def dpo_events() -> list[dict]:
    events = []
    for s in range(1, 21):
        events.append(
            {
                "type": "step",
                "step": s,
                "total_steps": 20,
                "loss": 0.69 - s / 50,
                "time": 100.0 + s,
                "reward_chosen": s / 100,
                "reward_rejected": -s / 50,
                "reward_margin": 0.03 * s,
                "reward_accuracy": min(1.0, s / 10),
                "mem_peak_gb": 0.1,
            }
        )
        if s % 5 == 0:
            events.append(
                {
                    "type": "eval",
                    "step": s,
                    "val_loss": 0.6,
                    "time": 100.0 + s,
                    "reward_margin": 0.02 * s,
                    "reward_accuracy": s / 20,
                }
            )
    return events


async def test_v_reaches_the_rewards_view_of_a_preference_run():
    history = MetricHistory()
    history.reset(Path("/runs/dpo"), budget_gb=2.0, total_ram_gb=16.0)
    history.add_events(dpo_events())
    app = Host(history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        for _ in range(4):
            await pilot.press("v")
        await pilot.pause(0.3)
        assert app.screen.view == "rewards"
        margin, accuracy = app.screen.query_one(MarginChart), app.screen.query_one(AccuracyChart)
        assert margin.display and margin.parent.display and margin.size.height > 8
        assert margin.series["train"] == (list(range(1, 21)), [0.03 * s for s in range(1, 21)])
        assert margin.series["val"] == ([5, 10, 15, 20], [0.1, 0.2, 0.3, 0.4])
        assert accuracy.series["val"] == ([5, 10, 15, 20], [0.25, 0.5, 0.75, 1.0])
        assert "margin 0.600 acc 1.000" in str(app.screen.query_one("#summary").render())
        await pilot.press("v")
        assert app.screen.view == "all"


async def test_a_run_without_rewards_skips_that_view():
    app = Host(synthetic_history())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        views = []
        for _ in range(4):
            await pilot.press("v")
            views.append(app.screen.view)
        assert views == ["loss", "memory", "speed", "all"]


def test_a_resume_drops_the_rewards_of_the_steps_it_reruns():
    history = MetricHistory()
    history.reset(Path("/runs/dpo"), budget_gb=None, total_ram_gb=16.0)
    history.add_events([e for e in dpo_events() if e["step"] <= 12])  # evals at 5 and 10
    history.add_events(
        [e for e in dpo_events() if e["type"] == "step" and 6 <= e["step"] <= 8]
    )  # resumed at 5
    assert history.rewards["train margin"].xs == list(range(1, 9))
    assert history.rewards["val margin"].xs == history.rewards["val accuracy"].xs == [5]
