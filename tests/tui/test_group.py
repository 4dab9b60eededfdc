"""The cockpit and a group of runs (train --seeds): when the active run ends and the group's queue
starts the next one, the cockpit goes on with it."""

from __future__ import annotations

import json

from farense_tui.engine.runs import folder
from farense_tui.engine.runs import group as groups
from farense_tui.engine.runs.config import RunConfig
from farense_tui.tui.app import create_app
from tests.tui.conftest import T0, fabricate_run, training_history, wait_until


async def test_the_cockpit_goes_on_with_the_next_run_of_the_group(monkeypatch, farense_home):
    """Processes stand in for by their liveness: the first run trains, then it is gone and the
    second one runs, as the queue would have it."""
    finished = training_history(total=12, upto=12, recovery_at=None) + [
        {"type": "state", "time": T0 + 80, "state": "finished", "message": "finished at step 12"}
    ]
    first = fabricate_run("g-seed0", finished)
    second = fabricate_run("g-seed1", training_history(total=12, upto=3, recovery_at=None), seed=1)
    for run_dir in (first, second):
        cfg = RunConfig.load(run_dir / "config.toml")
        cfg.group = "g"
        cfg.save(run_dir / "config.toml")
    (farense_home / "runs" / "g.group").mkdir()
    (farense_home / "runs" / "g.group" / "group.json").write_text(
        json.dumps({"group": "g", "runs": [first.name, second.name], "seeds": [0, 1]})
    )
    alive = {first.name}
    monkeypatch.setattr(folder, "is_alive", lambda run_dir: run_dir.name in alive)
    monkeypatch.setattr(groups, "is_alive", lambda run_dir: run_dir.name in alive)
    monkeypatch.setattr(groups.Group, "queue_alive", property(lambda self: True))

    app = create_app(attach_live=False, detect_hardware=False)
    async with app.run_test(size=(100, 30)) as pilot:
        app.attach(first)
        await wait_until(
            pilot, lambda: app.run_status.alive is True, what="the first run seen alive"
        )
        alive.clear()
        alive.add(second.name)  # the first run ended; the queue started the second
        await wait_until(
            pilot, lambda: app.run_status.run_dir == second, 15, what="the next run of the group"
        )
        assert app.run_status.step == 3
