"""Data-parallel runs: 2 local ranks through mlx.launch (ring over 127.0.0.1) train what 1 rank
trains."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import psutil
import pytest

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs import commands, launch
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.launch import check_hosts
from farense_tui.engine.runs.status import RunStatus, progress_line
from farense_tui.engine.training.faults import FAULTS_ENV
from tests import tiny_model
from tests.conftest import REPO
from tests.engine_helpers import (
    events,
    inject_faults,
    losses,
    start_run,
    tiny_config,
    wait_done,
    wait_for,
)

STEPS = 8


def _config(model, data, ranks: int, iters: int = STEPS, **changes):
    # Learning rate 1e-3: at 1e-2 this random tiny model trains chaotically, and the float rounding
    # of other matmul shapes (a downshifted batch) grows past 1e-4 within a few steps.
    cfg = tiny_config(model, data, iters=iters, learning_rate=1e-3)
    cfg.ranks = ranks
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def shared(tiny_model_dir, tmp_path_factory):
    """A farense home for the runs this module's tests share (each costs seconds of start-up)."""
    home = tmp_path_factory.mktemp("distributed") / "home"
    shutil.copytree(REPO / "profiles", home / "profiles")
    (home / "runs").mkdir()
    data = tiny_model.write_data(home / "data" / "tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FARENSE_HOME", str(home))
        yield mp, tiny_model_dir, data


@pytest.fixture(scope="module")
def one_rank(shared):
    """The reference: the run on one rank."""
    _, model, data = shared
    run_dir = start_run(_config(model, data, 1))
    assert wait_done(run_dir).status == "finished"
    return losses(run_dir)


@pytest.fixture(scope="module")
def oom_on_rank_one(shared):
    """2 ranks; rank 1 alone fails an allocation at step 6 (MLX's error, injected): the run
    downshifts."""
    mp, model, data = shared
    mp.setenv(FAULTS_ENV, json.dumps({"alloc_error_at_step": 6, "rank": 1}))
    run_dir = start_run(_config(model, data, 2))
    mp.delenv(FAULTS_ENV)
    wait_done(run_dir)
    return run_dir


def test_two_ranks_train_the_one_rank_losses(oom_on_rank_one, one_rank):
    """Every step's loss on 2 ranks is the 1-rank loss, before and after the downshift; each step
    event carries both ranks' figures."""
    two_ranks = losses(oom_on_rank_one)
    assert sorted(two_ranks) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(two_ranks[step] - one_rank[step]) < 1e-4, (step, two_ranks[step], one_rank[step])
    rows = [e["ranks"] for e in events(oom_on_rank_one, "step")]
    assert all(
        [r["rank"] for r in row] == [0, 1] and all(r["sys_available_gb"] > 0 for r in row)
        for row in rows
    )


def test_out_of_memory_on_rank_one_downshifts_the_whole_run(oom_on_rank_one):
    assert runs.info(oom_on_rank_one).status == "finished"
    errors = events(oom_on_rank_one, "error")
    assert [e["kind"] for e in errors] == ["oom"]
    assert errors[0]["message"].startswith("rank 1 (pid ")
    assert (
        "exited with code 75: out of memory (MLX could not allocate memory" in errors[0]["message"]
    )
    [recovery] = events(oom_on_rank_one, "recovery")
    assert recovery["message"].startswith("rank 1 ") and recovery["resume_step"] == 4
    assert (recovery["from"]["batch_size"], recovery["to"]["batch_size"]) == (2, 1)
    assert (recovery["from"]["grad_accumulation"], recovery["to"]["grad_accumulation"]) == (2, 4)
    assert (
        RunConfig.load(oom_on_rank_one / "config.toml").profile.batch_size == 1
    )  # every rank restarted smaller
    assert (
        "[rank 1] farense: error oom: MLX could not allocate memory"
        in (oom_on_rank_one / "engine.log").read_text()
    )


def _rank_one(run_dir) -> psutil.Process:
    rank_zero = int((run_dir / "engine.pid").read_text())
    supervisor = psutil.Process(int((run_dir / "supervisor.pid").read_text()))
    engines = [
        p
        for p in supervisor.children(recursive=True)
        if "farense_tui.engine.training.engine_process" in " ".join(p.cmdline())
        and p.pid != rank_zero
    ]
    return engines[0]


def test_a_killed_rank_is_named_and_its_checkpoint_resumes_on_one_rank(
    tiny_model_dir, tiny_data, one_rank
):
    """Rank 1 killed (SIGKILL) while the run is paused after a save: with auto-recovery off the run
    fails naming rank 1, and the 2-rank checkpoint resumes on 1 rank with the 1-rank losses."""
    run_dir = start_run(_config(tiny_model_dir, tiny_data, 2, auto_recover=False))
    wait_for(lambda: events(run_dir, "step"), what="a step on 2 ranks")
    commands.send(run_dir, "pause")
    wait_for(lambda: runs.info(run_dir).status == "paused", what="the pause")
    commands.send(run_dir, "save")
    saved = wait_for(
        lambda: [e["step"] for e in events(run_dir, "checkpoint") if e["reason"] == "save-now"],
        what="the save",
    )[0]
    assert 1 <= saved < STEPS
    os.kill(_rank_one(run_dir).pid, signal.SIGKILL)
    info = wait_done(run_dir)
    assert (info.status, info.checkpoint_step) == ("failed", saved)
    [error] = events(run_dir, "error")
    assert error["kind"] == "killed" and error["message"].startswith("rank 1 (pid ")
    assert "died with SIGKILL: killed (no sign of memory pressure" in error["message"]

    cfg = RunConfig.load(run_dir / "config.toml")
    cfg.ranks = 1
    cfg.save(run_dir / "config.toml")
    runs.resume(run_dir)
    assert wait_done(run_dir).status == "finished"
    resumed = losses(run_dir)
    assert sorted(resumed) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(resumed[step] - one_rank[step]) < 1e-4, (step, resumed[step], one_rank[step])


def test_a_host_that_cannot_be_reached_is_named_before_training(tmp_path):
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(
        json.dumps(
            [
                {"ssh": "127.0.0.1", "ips": ["127.0.0.1"]},
                {"ssh": "mac-two.invalid", "ips": ["10.0.0.2"]},
            ]
        )
    )
    with pytest.raises(UserError, match="host mac-two.invalid .* cannot be reached"):
        check_hosts(str(hostfile))


def test_a_bad_hostfile_or_ranks_setting_says_where_and_what_was_expected(tmp_path):
    """The Config field (and --hosts) refuse with the file, the line or key, and what was
    expected."""
    hostfile = tmp_path / "hosts.json"
    cases = {
        '[{"ssh": "mac1", "ips": ["10.0.0.1"]},\n {"ssh": "mac2" "ips": []}]': "hosts.json, line "
        "2, column 17: not valid JSON (Expecting ',' delimiter)",
        '{"backend": "ring"}': 'hosts.json: no "hosts" key; expected [{"ssh": "mac1"',
        '[{"ssh": "mac1", "ips": ["10.0.0.1"]}, {"ips": ["10.0.0.2"]}]': "hosts.json: host 2 needs "
        'an "ssh" name',
        '[{"ssh": "mac1", "ips": ["10.0.0.1"]}, {"ssh": "mac2"}]': "hosts.json: host 2 (mac2) has "
        'no "ips": the ring backend connects to IP addresses',
        '{"backend": "tcp", "hosts": [{"ssh": "mac1"}]}': "\"backend\" is 'tcp'; expected one of "
        "ring, jaccl",
    }
    for text, said in cases.items():
        hostfile.write_text(text)
        with pytest.raises(UserError) as refused:
            launch.ranks_setting("hosts.json", tmp_path)
        assert said in str(refused.value), (text, str(refused.value))
    hostfile.write_text('{"backend": "jaccl", "hosts": [{"ssh": "mac1"}, {"ssh": "mac2"}]}')
    assert launch.ranks_setting("hosts.json", tmp_path) == (1, str(hostfile))
    assert (
        launch.describe_ranks(1, str(hostfile), "ring")
        == "2 ranks from hosts.json (mac1, mac2), jaccl"
    )
    assert launch.ranks_setting(" 2 ", tmp_path) == (2, "")
    assert launch.describe_ranks(2, "", "ring") == "2 ranks on this machine, ring"
    for bad in ("0", "-1", "1.5"):
        with pytest.raises(UserError, match=f"ranks: {bad} is not a whole number of 1 or more"):
            launch.ranks_setting(bad, tmp_path)
    with pytest.raises(
        UserError, match="missing.json: no such file; expected an mlx.launch hostfile"
    ):
        launch.ranks_setting("missing.json", tmp_path)


def test_each_ranks_speed_and_memory_reach_the_status_line():
    s = RunStatus(alive=True)
    s.add_events(
        [
            {
                "type": "step",
                "time": 1.0,
                "step": 3,
                "total_steps": 8,
                "tokens_per_sec": 800.0,
                "ranks": [
                    {"rank": 0, "tokens_per_sec": 412.3, "mem_peak_gb": 0.41, "rss_gb": 0.9},
                    {"rank": 1, "tokens_per_sec": 405.0, "mem_peak_gb": 0.4, "rss_gb": 0.9},
                ],
            }
        ]
    )
    assert "rank 0: 412 tok/s 0.41 GB · rank 1: 405 tok/s 0.40 GB" in progress_line(s)


def test_a_group_quiet_while_training_is_hung_but_not_while_paused(tmp_path):
    path = tmp_path / "events.jsonl"
    for state, hung in (("training", True), ("paused", False)):
        path.write_text(json.dumps({"type": "state", "time": 1.0, "state": state}) + "\n")
        os.utime(path, (time.time() - 10, time.time() - 10))
        assert launch.is_hung(tmp_path, timeout=5.0) is hung
        assert launch.is_hung(tmp_path, timeout=60.0) is False


def test_a_hung_rank_brings_the_run_back_from_its_checkpoint(
    tiny_model_dir, tiny_data, monkeypatch
):
    """Rank 1 stops answering: all ranks are ended and restarted on their own from the last
    checkpoint."""
    inject_faults(monkeypatch, hang_at_step=6)
    cfg = _config(tiny_model_dir, tiny_data, 2)
    cfg.hang_timeout = 2.0
    run_dir = start_run(cfg)
    assert wait_done(run_dir).status == "finished"
    recoveries = events(run_dir, "recovery")
    assert len(recoveries) == 1 and recoveries[0]["resume_step"] == 4
    assert "no progress for 2 s" in (run_dir / "engine.log").read_text()
    assert sorted(losses(run_dir)) == list(range(1, STEPS + 1))
