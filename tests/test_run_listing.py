"""Listing runs reads a run again only when its files changed, or when a process of it was alive."""

from __future__ import annotations

import json

from farense_tui.engine.runs import folder
from tests.tui.conftest import T0, fabricate_run, training_history


def append(run_dir, event: dict) -> None:
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(event) + "\n")


def test_a_listed_run_follows_its_events_and_its_processes(farense_home, monkeypatch):
    alive = {"now": True}
    monkeypatch.setattr(folder, "is_alive", lambda run_dir: alive["now"])
    run_dir = fabricate_run(
        "20260101-120000-tiny-llama", training_history(total=30, upto=12, recovery_at=None)
    )
    first = folder.info(run_dir)
    assert (first.status, first.step, first.alive) == ("training", 12, True)

    alive["now"] = False  # its engine died with no last word: nothing in its folder changed
    assert (folder.info(run_dir).status, folder.info(run_dir).alive) == ("dead", False)

    reads = []
    monkeypatch.setattr(
        folder, "_read_info", lambda path, read=folder._read_info: reads.append(path) or read(path)
    )
    assert folder.list_runs()[0].status == "dead" and not reads  # unchanged and not alive: kept

    append(
        run_dir,
        {"type": "state", "time": T0 + 99, "state": "stopped", "message": "stopped at step 12"},
    )
    assert folder.list_runs()[0].status == "stopped" and reads == [run_dir]
