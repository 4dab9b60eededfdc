"""The spread across training seeds of a group's evaluation, checked against numbers worked by
hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from farense_tui.engine.evaluate.report import format_group
from farense_tui.engine.evaluate.spread import group_result, spread


def result(em: list[float], f1: float, base_em: float, loss: float, base_loss: float) -> dict:
    """A run's result as the evaluation process writes it: exact match over two test samples
    (`em`, its mean is what the run contributes), one token F1 and ROUGE-L value per side."""

    def cells(em_per_seed: list[float], f1_: float) -> dict:
        mean = sum(em_per_seed) / len(em_per_seed)
        return {
            "exact_match": {"mean": mean, "sd": None, "per_seed": em_per_seed},
            "token_f1": {"mean": f1_, "sd": None, "per_seed": [f1_]},
            "rouge_l": {"mean": f1_, "sd": None, "per_seed": [f1_]},
        }

    return {
        "checkpoint": "best",
        "split": "test",
        "examples": 6,
        "format": "chat",
        "seeds": [123, 456],
        "samples": {"123": [0, 1, 2], "456": [1, 3, 5]},
        "note": "",
        "metrics": {"adapter": cells(em, f1), "base": cells([base_em, base_em], 0.0)},
        "loss": {
            "adapter": {"loss": loss, "perplexity": 2 * loss},
            "base": {"loss": base_loss, "perplexity": 2 * base_loss},
        },
    }


RUNS = [
    result([0.4, 0.6], 0.6, 0.0, 1.0, 3.0),  # adapter exact match: its own mean, 0.5
    result([0.7, 0.7], 0.6, 0.0, 2.0, 3.0),  # 0.7
    result([1.0, 0.8], 0.9, 0.0, 4.0, 3.0),
]  # 0.9


def test_each_run_contributes_its_mean_then_mean_and_sd_across_runs():
    out = spread(RUNS)
    em = out["metrics"]["adapter"]["exact_match"]
    assert em["per_run"] == pytest.approx([0.5, 0.7, 0.9])
    # mean 0.7; deviations -0.2, 0, 0.2: sample variance 0.08 / 2 = 0.04, sd 0.2
    assert em["mean"] == pytest.approx(0.7) and em["sd"] == pytest.approx(0.2)
    # token F1 0.6, 0.6, 0.9: mean 0.7; deviations -0.1, -0.1, 0.2: variance 0.06 / 2 = 0.03
    f1 = out["metrics"]["adapter"]["token_f1"]
    assert f1["mean"] == pytest.approx(0.7) and f1["sd"] == pytest.approx(0.03**0.5)
    assert out["metrics"]["base"]["exact_match"] == {
        "mean": 0.0,
        "sd": 0.0,
        "per_run": [0.0, 0.0, 0.0],
    }
    # loss 1, 2, 4: mean 7/3; deviations -4/3, -1/3, 5/3: variance (16 + 1 + 25) / 9 / 2 = 7/3
    loss = out["loss"]["adapter"]["loss"]
    assert loss["mean"] == pytest.approx(7 / 3) and loss["sd"] == pytest.approx((7 / 3) ** 0.5)
    assert out["loss"]["adapter"]["perplexity"]["mean"] == pytest.approx(14 / 3)


def test_one_run_has_no_spread_and_text_data_has_loss_only():
    assert spread(RUNS[:1])["metrics"]["adapter"]["exact_match"]["sd"] is None
    text = {**RUNS[0], "metrics": {}}
    out = spread([text, text])
    assert out["metrics"] == {} and out["loss"]["base"]["loss"]["sd"] == 0.0


def test_the_group_table_reads_mean_sd_per_side_and_the_difference():
    runs = [
        (f"g-seed{s}", s, Path(f"/runs/g-seed{s}/eval/best-test.json"), r)
        for s, r in enumerate(RUNS)
    ]
    document = group_result("g", "best-test", runs, skipped=["g-seed9: still training"])
    assert document["training_seeds"] == [0, 1, 2]
    assert document["runs"][0]["metrics"]["adapter"]["exact_match"] == pytest.approx(0.5)
    lines = format_group(document).splitlines()
    assert lines[0] == (
        "group g · best on test · mean ± sd over 3 training seeds (0, 1, 2); "
        "each run: its mean over 2 test samples (123, 456) × 3 examples"
    )
    assert lines[2].split() == [
        "exact",
        "match",
        "0.000",
        "±",
        "0.000",
        "0.700",
        "±",
        "0.200",
        "+0.700",
    ]
    assert lines[5].split() == [
        "test",
        "loss",
        "3.000",
        "±",
        "0.000",
        "2.333",
        "±",
        "1.528",
        "-0.667",
    ]
    assert lines[-1] == "  skipped: g-seed9: still training"
