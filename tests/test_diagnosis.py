"""Out of memory only with evidence: a signal alone is "killed" or "crashed", never a downshift."""

from __future__ import annotations

import json
import signal

from farense_tui.engine.processes import EXIT_OVER_BUDGET, EXIT_RANK_LOST
from farense_tui.engine.runs.diagnosis import CRASHED, KILLED, OUT_OF_MEMORY, EngineStart, diagnose
from farense_tui.engine.runs.rank_watch import FATE

CALM_STEP = {
    "type": "step",
    "step": 3,
    "mem_peak_gb": 0.81,
    "sys_used_gb": 6.0,
    "sys_available_gb": 18.0,
    "swap_used_gb": 0.0,
}


def engine_life(run_dir, steps=(), log="", before_log="", before_steps=()):
    """A run folder whose engine wrote `steps` and `log` after an earlier one wrote the `before_`
    ones."""
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
    assert d.message.startswith(
        "the engine process died with SIGKILL: killed (no sign of memory pressure"
    )
    assert "0.81 GB of a 8.00 GB budget" in d.message


def test_a_segfault_without_evidence_is_a_crash(tmp_path):
    start = engine_life(tmp_path, [CALM_STEP])
    assert diagnose(-signal.SIGSEGV, tmp_path, start, 8.0).cause == CRASHED
    assert diagnose(3, tmp_path, start, 8.0).cause == CRASHED


def test_each_kind_of_evidence_makes_it_out_of_memory(tmp_path):
    cases = {
        "engine.log says 'insufficient memory'": dict(
            log="[METAL] Command buffer execution failed: Insufficient Memory\n"
        ),
        "near the 8.00 GB budget": dict(steps=[{**CALM_STEP, "mem_peak_gb": 7.5}]),
        "only 0.50 GB of its RAM available": dict(
            steps=[{**CALM_STEP, "sys_used_gb": 23.5, "sys_available_gb": 0.5}]
        ),
        "swapping (1.00 GB more swap": dict(
            steps=[CALM_STEP, {**CALM_STEP, "step": 4, "swap_used_gb": 1.0}]
        ),
    }
    for i, (said, life) in enumerate(cases.items()):
        start = engine_life(tmp_path / str(i), **life)
        d = diagnose(-signal.SIGKILL, tmp_path / str(i), start, 8.0)
        assert d.cause == OUT_OF_MEMORY and said in d.evidence, (said, d)


def test_only_this_engines_life_counts(tmp_path):
    """An earlier engine's out-of-memory message and steps are no evidence against this one."""
    start = engine_life(
        tmp_path,
        [CALM_STEP],
        before_log="Unable to allocate 4096 bytes\n",
        before_steps=[{**CALM_STEP, "mem_peak_gb": 7.9}],
    )
    assert diagnose(-signal.SIGKILL, tmp_path, start, 8.0).cause == KILLED


def test_the_engines_own_budget_stop_is_out_of_memory(tmp_path):
    start = engine_life(tmp_path)
    assert diagnose(EXIT_OVER_BUDGET, tmp_path, start, 8.0).out_of_memory


def _fate(rank: int, code: int, oom_kills: int | None = 0) -> str:
    return (
        FATE
        + json.dumps(
            {"rank": rank, "code": code, "pid": 100 + rank, "host": "mac2", "oom_kills": oom_kills}
        )
        + "\n"
    )


def test_the_rank_that_died_is_named_not_the_one_that_lost_its_peer(tmp_path):
    """Rank 1 killed; rank 0 then lost its peer and ended first: the verdict is rank 1's."""
    start = engine_life(
        tmp_path,
        [{**CALM_STEP, "ranks": [{"rank": 0, **CALM_STEP}, {"rank": 1, **CALM_STEP}]}],
        log=_fate(0, EXIT_RANK_LOST) + _fate(1, -signal.SIGKILL),
    )
    d = diagnose(-signal.SIGKILL, tmp_path, start, 8.0)
    assert (d.cause, d.what) == (KILLED, "rank 1 (pid 101 on mac2) died with SIGKILL")
    assert "last MLX peak 0.81 GB of a 8.00 GB budget" in d.evidence


def test_each_ranks_own_evidence_makes_it_out_of_memory(tmp_path):
    calm = {"rank": 0, **CALM_STEP}
    cases = {
        "engine.log says 'insufficient memory'": dict(
            log="[rank 0] fine\n[rank 1] [METAL] Command buffer execution failed: Insufficient "
            "Memory\n" + _fate(1, -signal.SIGABRT)
        ),
        "the kernel's out-of-memory killer struck": dict(
            log=_fate(1, -signal.SIGKILL, oom_kills=1)
        ),
        "near the 8.00 GB budget": dict(
            log=_fate(1, -signal.SIGKILL),
            steps=[{**CALM_STEP, "ranks": [calm, {**calm, "rank": 1, "mem_peak_gb": 7.6}]}],
        ),
        "MLX could not allocate memory": dict(
            log="[rank 1] farense: error oom: MLX could not allocate memory\n"
            + _fate(0, EXIT_RANK_LOST)
            + _fate(1, EXIT_OVER_BUDGET)
        ),
    }
    for i, (said, life) in enumerate(cases.items()):
        start = engine_life(tmp_path / str(i), **life)
        d = diagnose(-signal.SIGKILL, tmp_path / str(i), start, 8.0)
        assert d.out_of_memory and d.what.startswith("rank 1 ") and said in d.evidence, (said, d)
    # Rank 0's evidence is not rank 1's: a memory message from rank 0 leaves rank 1 killed.
    start = engine_life(
        tmp_path / "x",
        log="[rank 0] Unable to allocate\n" + _fate(1, -signal.SIGKILL, oom_kills=None),
    )
    assert diagnose(-signal.SIGKILL, tmp_path / "x", start, 8.0).cause == KILLED
