"""Data-parallel runs: 2 local ranks through mlx.launch (ring over 127.0.0.1) train what 1 rank trains."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from farense_tui.engine import runs
from farense_tui.engine.runs import commands, launch
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.launch import check_hosts
from farense_tui.engine.runs.status import RunStatus, progress_line
from tests.engine_helpers import events, inject_faults, losses, start_run, tiny_config, wait_done, wait_for

STEPS = 8


def _config(model, data, ranks: int, iters: int = STEPS):
    cfg = tiny_config(model, data, iters=iters)
    cfg.ranks = ranks
    return cfg


def test_two_ranks_train_the_one_rank_losses_and_resume_on_one(tiny_model_dir, tiny_data):
    straight = start_run(_config(tiny_model_dir, tiny_data, 1))
    wait_done(straight)
    reference = losses(straight)

    run_dir = start_run(_config(tiny_model_dir, tiny_data, 2))
    wait_for(lambda: any(e["step"] >= 5 for e in events(run_dir, "step")), what="step 5 on 2 ranks")
    commands.send(run_dir, "stop")
    info = wait_done(run_dir)
    assert info.status == "stopped" and 5 <= info.checkpoint_step < STEPS
    two_rank_steps = events(run_dir, "step")
    assert all([r["rank"] for r in e["ranks"]] == [0, 1] for e in two_rank_steps)

    cfg = RunConfig.load(run_dir / "config.toml")
    cfg.ranks = 1
    cfg.save(run_dir / "config.toml")
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished"
    resumed = losses(run_dir)
    assert sorted(resumed) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(resumed[step] - reference[step]) < 1e-4, (step, resumed[step], reference[step])


def _rank_one(run_dir) -> psutil.Process:
    rank_zero = int((run_dir / "engine.pid").read_text())
    supervisor = psutil.Process(int((run_dir / "supervisor.pid").read_text()))
    engines = [p for p in supervisor.children(recursive=True)
               if "farense_tui.engine.training.engine_process" in " ".join(p.cmdline()) and p.pid != rank_zero]
    return engines[0]


def test_a_killed_rank_brings_the_run_back_from_its_checkpoint(tiny_model_dir, tiny_data):
    iters = 24  # steps take 50-200 ms: enough of them that the kill lands mid-run
    run_dir = start_run(_config(tiny_model_dir, tiny_data, 2, iters))
    wait_for(lambda: any(e["step"] >= 5 for e in events(run_dir, "step")), what="step 5 on 2 ranks")
    os.kill(_rank_one(run_dir).pid, signal.SIGKILL)
    assert wait_done(run_dir).status == "finished"
    recoveries = events(run_dir, "recovery")
    assert len(recoveries) == 1 and recoveries[0]["resume_step"] >= 4  # its last checkpoint (every 4 steps)
    resumed_at = [e["message"] for e in events(run_dir, "state") if "resumed from" in e["message"]]
    assert resumed_at == [f"resumed from step-{recoveries[0]['resume_step']:07d} (step {recoveries[0]['resume_step']})"]
    assert sorted(losses(run_dir)) == list(range(1, iters + 1))


def test_a_host_that_cannot_be_reached_is_named_before_training(tmp_path):
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([{"ssh": "127.0.0.1", "ips": ["127.0.0.1"]},
                                    {"ssh": "mac-two.invalid", "ips": ["10.0.0.2"]}]))
    with pytest.raises(UserError, match="host mac-two.invalid .* cannot be reached"):
        check_hosts(str(hostfile))
    hostfile.write_text("{}")
    with pytest.raises(UserError, match="not an mlx.launch hostfile"):
        check_hosts(str(hostfile))


def test_each_ranks_speed_and_memory_reach_the_status_line():
    s = RunStatus(alive=True)
    s.add_events([{"type": "step", "time": 1.0, "step": 3, "total_steps": 8, "tokens_per_sec": 800.0,
                   "ranks": [{"rank": 0, "tokens_per_sec": 412.3, "mem_peak_gb": 0.41, "rss_gb": 0.9},
                             {"rank": 1, "tokens_per_sec": 405.0, "mem_peak_gb": 0.4, "rss_gb": 0.9}]}])
    assert "rank 0: 412 tok/s 0.41 GB · rank 1: 405 tok/s 0.40 GB" in progress_line(s)


def test_a_group_quiet_while_training_is_hung_but_not_while_paused(tmp_path):
    path = tmp_path / "events.jsonl"
    for state, hung in (("training", True), ("paused", False)):
        path.write_text(json.dumps({"type": "state", "time": 1.0, "state": state}) + "\n")
        os.utime(path, (time.time() - 10, time.time() - 10))
        assert launch.is_hung(tmp_path, timeout=5.0) is hung
        assert launch.is_hung(tmp_path, timeout=60.0) is False


def test_a_hung_rank_brings_the_run_back_from_its_checkpoint(tiny_model_dir, tiny_data, monkeypatch):
    inject_faults(monkeypatch, hang_at_step=6)
    cfg = _config(tiny_model_dir, tiny_data, 2)
    cfg.hang_timeout = 2.0
    run_dir = start_run(cfg)
    assert wait_done(run_dir).status == "finished"
    recoveries = events(run_dir, "recovery")
    assert len(recoveries) == 1 and recoveries[0]["resume_step"] == 4
    assert "no progress for 2 s" in (run_dir / "engine.log").read_text()
    assert sorted(losses(run_dir)) == list(range(1, STEPS + 1))
