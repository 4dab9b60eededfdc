"""A run's cost from its events, `runs --json`, `runs compare` and `runs csv`, on runs written by
hand."""

from __future__ import annotations

import csv
import io
import json

from farense_tui.cli.main import main
from farense_tui.engine.runs.cost import RunCost
from farense_tui.engine.runs.event_types import parse_event
from tests.tui.conftest import T0, fabricate_run, step_event, training_history


def test_cost_counts_the_engine_at_work_not_pauses_or_a_dead_night():
    events = [
        {"type": "state", "time": T0, "state": "loading", "message": ""},
        {"type": "state", "time": T0 + 5, "state": "training", "message": ""},
        step_event(1, 4, T0 + 10, 2.0, tokens_per_sec=100.0, mem_peak_gb=1.0),
        step_event(2, 4, T0 + 20, 1.9, tokens_per_sec=300.0, mem_peak_gb=1.5),
        {"type": "state", "time": T0 + 25, "state": "paused", "message": ""},
        {"type": "state", "time": T0 + 125, "state": "training", "message": ""},  # 100 s paused
        step_event(3, 4, T0 + 135, 1.8, tokens_per_sec=200.0, mem_peak_gb=1.2),
        {"type": "state", "time": T0 + 140, "state": "stopped", "message": ""},
        {
            "type": "recovery",
            "time": T0 + 10_000,
            "message": "resumed by hand",
            "from": {},
            "to": {},
            "resume_step": 3,
        },  # the night it lay stopped is not work
        {"type": "state", "time": T0 + 10_001, "state": "loading", "message": ""},
        step_event(4, 4, T0 + 10_011, 1.7, tokens_per_sec=250.0, mem_peak_gb=1.1),
        {"type": "state", "time": T0 + 10_012, "state": "finished", "message": ""},
    ]
    cost = RunCost()
    for e in events:
        cost.add(parse_event(e))
    assert cost.wall_seconds == 25 + 15 + 11
    assert cost.trained_tokens == 4 * 3100 and cost.peak_memory_gb == 1.5
    assert cost.tokens_per_sec == 225.0  # the median step
    assert cost.money(3.6) == (51 / 3600) * 3.6


def test_runs_compare_shows_what_differs_evaluations_and_cost(farense_home, capsys):
    fabricate_run(
        "run-a", training_history(total=30, upto=30, recovery_at=None), learning_rate=2e-4
    )
    b = fabricate_run(
        "run-b", training_history(total=30, upto=30, recovery_at=None), learning_rate=5e-4
    )
    (b / "eval").mkdir()
    (b / "eval" / "best-test.json").write_text(
        json.dumps(
            {
                "metrics": {
                    "adapter": {"exact_match": {"mean": 0.8, "sd": None}},
                    "base": {"exact_match": {"mean": 0.1}},
                }
            }
        )
    )
    assert main(["runs", "compare", "run-a", "run-b", "--price-per-hour", "2"]) == 0
    table = {line.split("  ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "0.0002" in table["learning_rate"] and "0.0005" in table["learning_rate"]
    assert "batch_size" not in table  # equal settings are left out
    assert table["exact match"].split()[-3:] == ["0.800", "(base", "0.100)"]
    assert "wall hours" in table and "cost" in table and "trained tokens" in table

    assert main(["runs", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["run_id"] for r in listed} == {"run-a", "run-b"}
    assert all(
        r["cost"]["trained_tokens"] == 30 * 3100 and r["best_val_loss"] is not None for r in listed
    )


def test_runs_csv_keeps_one_row_per_step_after_a_recovery(farense_home, tmp_path):
    fabricate_run("run-c", training_history(total=30, upto=18, recovery_at=10))
    out = tmp_path / "c.csv"
    assert main(["runs", "csv", "run-c", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["step"]) for r in rows] == list(range(1, 19))
    assert [int(r["step"]) for r in rows if r["val_loss"]] == [5, 10, 15]


def test_runs_csv_carries_a_preference_runs_rewards(farense_home, tmp_path):
    """A DPO run's CSV has the step's rewards and, on evaluated steps, the valid split's; a plain
    run's has no reward columns."""
    rewards = {"reward_chosen": 0.5, "reward_rejected": -0.25, "reward_margin": 0.75}
    events = [
        step_event(1, 2, T0 + 1, 0.69, **rewards, reward_accuracy=0.5),
        step_event(2, 2, T0 + 2, 0.6, **rewards, reward_accuracy=1.0),
        {"type": "eval", "time": T0 + 3, "step": 2, "val_loss": 0.65, "is_best": True,
         "best_val_loss": 0.65, "eval_time": 1.0, "reward_margin": 0.4, "reward_accuracy": 0.8},
    ]  # fmt: skip
    fabricate_run("run-dpo", events, objective="dpo")
    out = tmp_path / "dpo.csv"
    assert main(["runs", "csv", "run-dpo", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["reward_accuracy"] for r in rows] == ["0.5", "1.0"]
    assert rows[0]["reward_margin"] == "0.75" and rows[0]["val_reward_margin"] == ""
    assert rows[1]["val_reward_margin"] == "0.4" and rows[1]["val_reward_accuracy"] == "0.8"
    fabricate_run("run-sft", training_history(total=30, upto=6))
    assert main(["runs", "csv", "run-sft", "-o", str(out)]) == 0
    assert "reward" not in out.read_text().splitlines()[0]


def test_price_per_hour_from_the_environment(farense_home, capsys, monkeypatch):
    """FARENSE_PRICE_PER_HOUR is the price `runs` uses when --price-per-hour is not given."""
    from farense_tui.engine.errors import UserError
    from farense_tui.engine.runs.cost import price_from_env

    assert price_from_env({}) is None
    assert price_from_env({"FARENSE_PRICE_PER_HOUR": "1.5"}) == 1.5
    for bad in ("abc", "-2"):
        try:
            price_from_env({"FARENSE_PRICE_PER_HOUR": bad})
        except UserError as exc:
            assert "FARENSE_PRICE_PER_HOUR" in str(exc)
        else:
            raise AssertionError(f"{bad!r} taken as a price")
    fabricate_run("20260101-120000-tiny-llama", training_history(total=30, upto=18))
    monkeypatch.setenv("FARENSE_PRICE_PER_HOUR", "2")
    assert main(["runs"]) == 0
    assert " at 2/h" in capsys.readouterr().out
