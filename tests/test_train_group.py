"""`train --seeds`: one run per training seed as a group, trained one after another by the group's
own detached queue: Ctrl-C stops the running run and the queue with it; `train --resume GROUP`
continues, and its queue outlives the terminal that started it; `eval GROUP` reports the spread
across the training seeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys

import pytest

from farense_tui.cli.main import main
from farense_tui.engine.runs import is_alive
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.group import find_group
from tests.engine_helpers import events, wait_for
from tests.test_cli import tiny_profile  # noqa: F401 (a fixture)


def start_cli(*args: str) -> subprocess.Popen:
    """The CLI in its own session, as in a terminal of its own that can be closed."""
    return subprocess.Popen(
        [sys.executable, "-m", "farense_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def first(run_dir, state: str) -> float:
    return next(e["time"] for e in events(run_dir, "state") if e["state"] == state)


def test_ctrl_c_stops_the_queue_resume_outlives_its_terminal_then_eval_reports_the_spread(
    tiny_model_dir,
    tiny_data,
    tiny_profile,  # noqa: F811 (the fixture imported above)
    farense_home,
    capsys,
):
    shutil.copy(tiny_data / "valid.jsonl", tiny_data / "test.jsonl")
    run0, run1 = farense_home / "runs" / "g-seed0", farense_home / "runs" / "g-seed1"
    trainer = start_cli(
        "train",
        "--profile",
        tiny_profile,
        "--model",
        str(tiny_model_dir),
        "--data",
        str(tiny_data),
        "--iters",
        "4",
        "--seeds",
        "0,1",
        "--group",
        "g",
    )
    header = next(
        line for line in trainer.stdout if line.startswith("── ")
    )  # it follows the first run
    assert header.startswith("── run 1/2 of group g: g-seed0 (seed 0)"), header
    # Ctrl-C: the stop reaches the engine at its first look, whenever that is (step 0 if still
    # loading).
    trainer.send_signal(signal.SIGINT)
    out, _ = trainer.communicate(timeout=60)
    assert trainer.returncode == 0, out
    assert "stopping and saving g-seed0; the group's queue stops with it" in out
    assert "continue it with: farense-tui train --resume g" in out
    group = find_group("g")
    wait_for(lambda: not group.queue_alive, 30, "the queue to stop")
    assert group.states() == {"g-seed0": "stopped", "g-seed1": "stopped"}
    assert not [e for e in events(run1, "state") if e["state"] == "loading"]  # never started

    resumer = start_cli("train", "--resume", "g")
    wait_for(lambda: is_alive(run0), 60, "the first run to be resumed")
    os.killpg(
        resumer.pid, signal.SIGHUP
    )  # the terminal is closed: the CLI and its process group go
    resumer.wait(10)
    wait_for(lambda: not group.queue_alive, 120, "the queue to end")
    assert group.states() == {"g-seed0": "finished", "g-seed1": "finished"}
    assert any("resumed from" in e.get("message", "") for e in events(run0, "state"))
    configs = [RunConfig.load(d / "config.toml") for d in (run0, run1)]
    assert [(c.group, c.profile.seed) for c in configs] == [("g", 0), ("g", 1)]
    assert first(run1, "loading") >= first(run0, "finished")  # one after the other

    assert main(["runs", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((r["run_id"], r["group"], r["seed"]) for r in listed) == [
        ("g-seed0", "g", 0),
        ("g-seed1", "g", 1),
    ]
    assert main(["runs"]) == 0
    assert "group g (queue ended): seed 0 finished, seed 1 finished" in capsys.readouterr().out

    assert (
        main(["eval", "g", "--samples", "3", "--seeds", "1,2", "--max-tokens", "3", "--json"]) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["training_seeds"] == [0, 1] and document["seeds"] == [1, 2]
    assert json.loads((group.folder / "eval" / "best-test.json").read_text()) == document
    # The spread recomputed from the runs' own saved results.
    per_run = [json.loads((d / "eval" / "best-test.json").read_text()) for d in (run0, run1)]
    losses = [r["loss"]["adapter"]["loss"] for r in per_run]
    assert document["loss"]["adapter"]["loss"]["mean"] == pytest.approx(statistics.fmean(losses))
    assert document["loss"]["adapter"]["loss"]["sd"] == pytest.approx(statistics.stdev(losses))
    f1 = [r["metrics"]["adapter"]["token_f1"]["mean"] for r in per_run]
    assert document["metrics"]["adapter"]["token_f1"]["per_run"] == pytest.approx(f1)
