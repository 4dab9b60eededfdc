"""`farense-tui eval` on a tiny run, through the real evaluation process: results, answers, greedy
answers equal to mlx_lm.generate's, seeded samples, and cancel."""

from __future__ import annotations

import json
import shutil

import pytest

from farense_tui.cli.main import main
from farense_tui.engine.evaluate import job as jobs
from farense_tui.engine.evaluate.job import EvalSettings
from tests.conftest import REPO
from tests.engine_helpers import start_run, tiny_config, wait_done, wait_for


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


def test_eval_writes_results_and_answers(home, tiny_run, capsys):
    run_dir = tiny_run[1]
    code = main(["eval", run_dir.name, "--base", "--max-tokens", "6", "--samples", "4", "--seeds", "1,2,3",
                 "--price-per-hour", "2", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((run_dir / "eval" / "best-test.json").read_text())
    assert saved == result
    assert result["examples"] == 6 and result["seeds"] == [1, 2, 3]
    assert all(len(idx) == 4 for idx in result["samples"].values())
    for side in ("adapter", "base"):
        for metric in ("exact_match", "token_f1", "rouge_l"):
            cell = result["metrics"][side][metric]
            assert len(cell["per_seed"]) == 3 and 0.0 <= cell["mean"] <= 1.0 and cell["sd"] is not None
        assert result["loss"][side]["perplexity"] > 1.0
    assert result["loss"]["adapter"]["loss"] != result["loss"]["base"]["loss"]
    cost = result["cost"]
    assert cost["generated_tokens"] > 0 and cost["money"] == pytest.approx(cost["wall_hours"] * 2)
    answers = [json.loads(line) for line in (run_dir / "eval" / "best-test.answers.jsonl").read_text().splitlines()]
    used = {i for idx in result["samples"].values() for i in idx}
    assert {a["index"] for a in answers} == used and len(answers) == 2 * len(used)
    assert not list((run_dir / "eval").glob(".*.tmp"))


def test_adapter_answers_equal_mlx_lm_generate(home, tiny_run):
    from mlx_lm import generate, load

    from tests import tiny_model

    run_dir = tiny_run[1]
    assert main(["eval", run_dir.name, "--checkpoint", "final", "--max-tokens", "8"]) == 0
    answers = [json.loads(line) for line in (run_dir / "eval" / "final-test.answers.jsonl").read_text().splitlines()]
    cfg_model = json.loads((run_dir / "eval" / "final-test.json").read_text())["model"]
    model, tokenizer = load(cfg_model, adapter_path=str(run_dir / "final"))
    for row in answers:
        messages = [{"role": "user", "content": row["question"]}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        assert row["answer"] == generate(model, tokenizer, prompt, max_tokens=8).strip()
    assert len(answers) == len(tiny_model.FACTS)


def test_eval_cancel_leaves_no_result(home, tiny_run):
    run_dir = tiny_run[1]
    job = jobs.start(EvalSettings(run_dir=str(run_dir), checkpoint="3", base=True, max_tokens=64))
    wait_for(lambda: any('"evaluating"' in line for line in (job.folder / "events.jsonl").read_text().splitlines()),
             120, "the evaluation to start")
    jobs.cancel(job)
    wait_for(lambda: not jobs.is_alive(job), 120, "the evaluation to stop")
    assert '"stopped"' in (job.folder / "events.jsonl").read_text()
    assert not job.result_path.exists()


def test_bad_split_is_a_clear_message(home, tiny_run, capsys):
    assert main(["eval", tiny_run[1].name, "--split", "nowhere.jsonl"]) == 1
    assert "--split 'nowhere.jsonl': expected test, valid or a JSONL file" in capsys.readouterr().err
