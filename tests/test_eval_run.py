"""`farense-tui eval` on a tiny run, through the real evaluation process: results, answers, greedy
answers equal to mlx_lm.generate's, seeded samples, and mistakes caught before a process starts.
Cancelling is tested from the Evaluate screen (tests/tui/test_evaluate.py)."""

from __future__ import annotations

import json
import shutil

import pytest

from farense_tui.cli.main import main
from tests.conftest import REPO
from tests.engine_helpers import start_run, tiny_config, wait_done


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model_dir):
    """One finished tiny run (6 steps), with a test split, shared by this module's tests."""
    from tests import tiny_model

    home = tmp_path_factory.mktemp("evalhome")
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir()
    data = tiny_model.write_data(home / "data" / "tiny")
    shutil.copy(data / "valid.jsonl", data / "test.jsonl")
    mp = pytest.MonkeyPatch()
    mp.setenv("FARENSE_HOME", str(home))
    run_dir = start_run(tiny_config(tiny_model_dir, data, iters=6, save_every=3, eval_every=3))
    assert wait_done(run_dir).status == "finished"
    mp.undo()
    return home, run_dir


@pytest.fixture
def home(tiny_run, monkeypatch):
    monkeypatch.setenv("FARENSE_HOME", str(tiny_run[0]))
    return tiny_run[0]


def test_eval_writes_results_and_answers_equal_to_mlx_lm_generate(home, tiny_run, capsys):
    from mlx_lm import generate, load

    run_dir = tiny_run[1]
    code = main(
        [
            "eval",
            run_dir.name,
            "--base",
            "--max-tokens",
            "6",
            "--samples",
            "4",
            "--seeds",
            "1,2,3",
            "--price-per-hour",
            "2",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((run_dir / "eval" / "best-test.json").read_text())
    assert saved == result
    assert result["examples"] == 6 and result["seeds"] == [1, 2, 3]
    assert all(len(idx) == 4 for idx in result["samples"].values())
    for side in ("adapter", "base"):
        for metric in ("exact_match", "token_f1", "rouge_l"):
            cell = result["metrics"][side][metric]
            assert (
                len(cell["per_seed"]) == 3 and 0.0 <= cell["mean"] <= 1.0 and cell["sd"] is not None
            )
        assert result["loss"][side]["perplexity"] > 1.0
    assert result["loss"]["adapter"]["loss"] != result["loss"]["base"]["loss"]
    cost = result["cost"]
    assert cost["generated_tokens"] > 0 and cost["money"] == pytest.approx(cost["wall_hours"] * 2)
    answers = [
        json.loads(line)
        for line in (run_dir / "eval" / "best-test.answers.jsonl").read_text().splitlines()
    ]
    used = {i for idx in result["samples"].values() for i in idx}
    assert {a["index"] for a in answers} == used and len(answers) == 2 * len(used)
    assert not list((run_dir / "eval").glob(".*.tmp"))

    # The adapter's answers are mlx_lm.generate's greedy answers for the same prompts.
    model, tokenizer = load(result["model"], adapter_path=str(run_dir / "best"))
    for row in (a for a in answers if a["side"] == "adapter"):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["question"]}], add_generation_prompt=True
        )
        assert row["answer"] == generate(model, tokenizer, prompt, max_tokens=6).strip()


def test_bad_split_or_checkpoint_is_a_clear_message_before_any_process(home, tiny_run, capsys):
    assert main(["eval", tiny_run[1].name, "--split", "nowhere.jsonl"]) == 2
    assert (
        "--split 'nowhere.jsonl': expected test, valid or a JSONL file" in capsys.readouterr().err
    )
    assert main(["eval", tiny_run[1].name, "--checkpoint", "77"]) == 2
    assert "has no adapter '77' (available: best, final, 6, 3)" in capsys.readouterr().err
    assert not list((tiny_run[1] / "eval").glob("77-*")) and not list(
        (tiny_run[1] / "eval").glob("*-nowhere*")
    )


def test_samples_without_seeds_scores_one_seeded_sample_of_that_size(home, tiny_run, capsys):
    run_dir = tiny_run[1]
    assert (
        main(
            ["eval", run_dir.name, "--samples", "4", "--max-tokens", "3", "--batch", "3", "--json"]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["seeds"] == [123] and list(result["samples"]) == ["123"]
    assert len(result["samples"]["123"]) == 4
    answers = [
        json.loads(line)
        for line in (run_dir / "eval" / "best-test.answers.jsonl").read_text().splitlines()
    ]
    assert sorted(a["index"] for a in answers) == result["samples"]["123"]
    assert len(result["metrics"]["adapter"]["exact_match"]["per_seed"]) == 1


def test_batch_below_one_is_a_clear_message(home, tiny_run, capsys):
    assert main(["eval", tiny_run[1].name, "--batch", "0"]) == 2
    assert "--max-tokens and --batch must be at least 1" in capsys.readouterr().err
