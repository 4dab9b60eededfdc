"""Two cockpits attached to one run, sending commands at once: none is lost, none applied twice,
not even by an engine the supervisor restarts after a kill."""

from __future__ import annotations

import threading

from farense_tui.engine.runs import commands
from tests.engine_helpers import events, kill, start_run, tiny_config, wait_done, wait_for


def test_commands_from_two_senders_are_each_applied_once(tiny_model_dir, tiny_data):
    run_dir = start_run(
        tiny_config(tiny_model_dir, tiny_data, iters=400, save_every=1000, eval_every=1000)
    )
    wait_for(lambda: events(run_dir, "step"), what="first step")
    commands.send(run_dir, "pause")
    wait_for(lambda: [e for e in events(run_dir, "state") if e["state"] == "paused"], 60, "paused")

    def cockpit() -> None:
        for _ in range(5):
            commands.send(run_dir, "save")

    senders = [threading.Thread(target=cockpit) for _ in range(2)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    saves = lambda: [e for e in events(run_dir, "checkpoint") if e["reason"] == "save-now"]  # noqa: E731
    wait_for(lambda: len(saves()) >= 10, 60, "ten saves")

    kill(run_dir / "engine.pid")  # the restarted engine must not carry them out again
    wait_for(
        lambda: len([e for e in events(run_dir, "state") if e["state"] == "loading"]) == 2,
        60,
        "restart",
    )
    commands.send(run_dir, "stop")
    assert wait_done(run_dir, 120).status == "stopped"
    assert len(saves()) == 10
    assert [e["reason"] for e in events(run_dir, "checkpoint")].count("stop") == 1
