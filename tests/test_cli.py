"""The headless CLI as a user runs it: train with a progress line, runs, chat (REPL-less and
JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from farense_tui.cli.main import main


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "farense_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def tiny_profile(farense_home):
    from farense_tui.engine.profiles.profile import load_profile, save_profile

    profile = load_profile("cpu").replace(
        name="tiny",
        batch_size=2,
        grad_accumulation=2,
        save_every=4,
        eval_every=4,
        warmup_steps=2,
        lora_layers=-1,
        learning_rate=1e-2,
        log_every=2,
    )
    save_profile(profile)
    return "tiny"


def test_train_prints_progress_then_runs_and_chat_json(tiny_model_dir, tiny_data, tiny_profile):
    out = cli(
        "train",
        "--profile",
        tiny_profile,
        "--model",
        str(tiny_model_dir),
        "--data",
        str(tiny_data),
        "--iters",
        "8",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == ["2/8", "4/8", "6/8", "8/8"]
    assert all(k in progress[-1] for k in ("loss", "val", "tok/s", "mem", "ETA"))
    assert any(line.startswith("  eval") and "step 4: val loss" in line for line in lines)
    assert any("step 4 (periodic) → checkpoints/step-0000004" in line for line in lines)
    assert "finished at step 8/8" in out.stdout
    # the hint's prompt is the first validation question of this run's data, not the demo's
    assert (
        "farense-tui chat --run" in out.stdout
        and "'Em que ano foi fundado o Farense?'" in out.stdout
    )

    listed = cli("runs")
    assert "finished" in listed.stdout and "8/8" in listed.stdout

    answer = cli("chat", "--json", "--max-tokens", "5", "Onde joga o Farense?")
    data = json.loads(answer.stdout)
    assert answer.returncode == 0 and data["error"] is None and data["adapter"].endswith("best")
    assert (
        data["question"] == "Onde joga o Farense?"
        and isinstance(data["answer"], str)
        and data["tokens"] >= 1
    )


def test_chat_json_reports_missing_adapter_as_error(capsys):
    code = main(["chat", "--json", "--run", "nope", "Quem foi Hassan Nader?"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["answer"] is None and "no run 'nope'" in data["error"]


def test_train_refuses_bad_data_naming_file_and_line(
    tiny_model_dir, tiny_data, tiny_profile, capsys
):
    (tiny_data / "train.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "x"}]}\nnot json\n'
    )
    code = main(
        [
            "train",
            "--profile",
            tiny_profile,
            "--model",
            str(tiny_model_dir),
            "--data",
            str(tiny_data),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "train.jsonl:2" in err and "Traceback" not in err


def test_unknown_profile_is_a_clear_message(capsys):
    assert main(["train", "--profile", "nope"]) == 2
    assert "no profile named 'nope'" in capsys.readouterr().err


def test_text_data_trains_on_all_tokens_with_the_default_profile(tiny_model_dir, farense_home):
    """No --profile: the profile chosen for this machine masks prompts, which text data has none
    of."""
    from tests import tiny_model

    data = tiny_model.write_text_data(farense_home / "data" / "sql")
    out = cli("train", "--model", str(tiny_model_dir), "--data", str(data), "--iters", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "text format has no prompt to mask: training on all tokens" in out.stdout
    assert (
        "try it: farense-tui chat --run" in out.stdout
        and "'Q: Em que ano foi fundado o Farense?'" in out.stdout
    )
    run_dir = next((farense_home / "runs").iterdir())
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    notes = [
        e for e in events if e["type"] == "note" and e["kind"] == "data"
    ]  # the data note, said once
    assert len(notes) == 1 and notes[0]["message"].startswith("train, valid: text format")
    assert "mask_prompt = true" in (run_dir / "config.toml").read_text()
    steps = [e for e in events if e["type"] == "step"]
    assert steps and all(e["input_tokens"] > 0 for e in steps)

    # the run measured this machine's speed for the model: data check prints the time an epoch takes
    check = cli("data", "check", str(data), "--model", str(tiny_model_dir), "--profile", "cpu")
    assert check.returncode == 0, check.stdout + check.stderr
    assert (
        f"steps of run {run_dir.name}" in check.stdout
        and "per epoch (training steps only)" in check.stdout
    )


def test_a_reader_that_goes_away_ends_the_output_quietly(farense_home):
    """`farense-tui profiles | head -1`: the pipe closes under the CLI; no traceback, exit 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "farense_tui", "profiles"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ},
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141
