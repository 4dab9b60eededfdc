"""Times a run shows: elapsed stops while paused; the runs table's "created" survives a recovery."""

from __future__ import annotations

import time

from farense_tui.engine import runs
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import status as status_module
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.status import RunStatus


def state(t: float, name: str) -> dict:
    return {"type": "state", "time": t, "state": name, "message": ""}


def test_elapsed_does_not_count_while_paused(monkeypatch):
    s = RunStatus(alive=True)
    s.add_events([state(100.0, "loading"), state(110.0, "training"), state(130.0, "paused")])
    monkeypatch.setattr(status_module, "clock", lambda: 190.0)
    assert s.elapsed == 30.0  # 100 → 130; the minute paused so far does not count
    s.add_events([state(200.0, "training")])
    monkeypatch.setattr(status_module, "clock", lambda: 215.0)
    assert s.elapsed == 45.0  # 30 before the pause + 15 after it


def test_created_is_kept_when_recovery_rewrites_the_config(farense_home, tmp_path):
    cfg = RunConfig(profile=load_profile("cpu"), model="m", data=str(tmp_path))
    run_dir = runs.create_run(cfg)
    created = runs.info(run_dir).created
    time.sleep(0.05)
    cfg = RunConfig.load(run_dir / "config.toml")
    cfg.profile = cfg.profile.replace(batch_size=2)  # as a downshift rewrites it
    cfg.save(run_dir / "config.toml")
    assert runs.info(run_dir).created == created
