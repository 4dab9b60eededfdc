"""Out of memory only with evidence: a signal alone is "killed" or "crashed", never a downshift."""

from __future__ import annotations

import json
import signal

from farense_tui.engine.runs.diagnosis import CRASHED, KILLED, OUT_OF_MEMORY, EngineStart, diagnose
from farense_tui.engine.runs.exit_codes import EXIT_OVER_BUDGET

CALM_STEP = {"type": "step", "step": 3, "mem_peak_gb": 0.81, "sys_used_gb": 6.0, "sys_available_gb": 18.0,
             "swap_used_gb": 0.0}


def engine_life(run_dir, steps=(), log="", before_log="", before_steps=()):
    """A run folder whose engine wrote `steps` and `log` after an earlier one wrote the `before_` ones."""
    run_dir.mkdir(exist_ok=True)
    (run_dir / "engine.log").write_text(before_log)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in before_steps))
    start = EngineStart.now(run_dir)
    with open(run_dir / "engine.log", "a") as fh:
        fh.write(log)
    with open(run_dir / "events.jsonl", "a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in steps)
    return start


def test_kill_9_with_memory_to_spare_is_killed_not_out_of_memory(tmp_path):
    start = engine_life(tmp_path, [CALM_STEP])
    d = diagnose(-signal.SIGKILL, tmp_path, start, budget_gb=8.0)
    assert (d.cause, d.out_of_memory) == (KILLED, False)
    assert d.message.startswith("the engine process died with SIGKILL: killed (no sign of memory pressure")
    assert "0.81 GB of a 8.00 GB budget" in d.message


def test_a_segfault_without_evidence_is_a_crash(tmp_path):
    start = engine_life(tmp_path, [CALM_STEP])
    assert diagnose(-signal.SIGSEGV, tmp_path, start, 8.0).cause == CRASHED
    assert diagnose(3, tmp_path, start, 8.0).cause == CRASHED


def test_each_kind_of_evidence_makes_it_out_of_memory(tmp_path):
    cases = {
        "engine.log says 'insufficient memory'": dict(
            log="[METAL] Command buffer execution failed: Insufficient Memory\n"),
        "near the 8.00 GB budget": dict(steps=[{**CALM_STEP, "mem_peak_gb": 7.5}]),
        "only 0.50 GB of its RAM available": dict(
            steps=[{**CALM_STEP, "sys_used_gb": 23.5, "sys_available_gb": 0.5}]),
        "swapping (1.00 GB more swap": dict(steps=[CALM_STEP, {**CALM_STEP, "step": 4, "swap_used_gb": 1.0}]),
    }
    for i, (said, life) in enumerate(cases.items()):
        start = engine_life(tmp_path / str(i), **life)
        d = diagnose(-signal.SIGKILL, tmp_path / str(i), start, 8.0)
        assert d.cause == OUT_OF_MEMORY and said in d.evidence, (said, d)


def test_only_this_engines_life_counts(tmp_path):
    """An earlier engine's out-of-memory message and steps are no evidence against this one."""
    start = engine_life(tmp_path, [CALM_STEP], before_log="Unable to allocate 4096 bytes\n",
                        before_steps=[{**CALM_STEP, "mem_peak_gb": 7.9}])
    assert diagnose(-signal.SIGKILL, tmp_path, start, 8.0).cause == KILLED


def test_the_engines_own_budget_stop_is_out_of_memory(tmp_path):
    start = engine_life(tmp_path)
    assert diagnose(EXIT_OVER_BUDGET, tmp_path, start, 8.0).out_of_memory
