"""What watching costs a run: tokens/s with the cockpit's Monitor open against the same run headless.

Each run: the demo model, float32 base, batch 4, sequence cap 512, LoRA on all blocks, 20 steps,
started with `farense-tui train --detach` in a temporary farense home (see screen_switch.py).
A watched run has the real cockpit open in a tmux window (120x40 by default), attached to it and
showing Monitor (3) from its start to its end; a headless run has nothing watching it.
Watched and headless runs alternate (ABBA order, so a drift in the machine's speed cancels),
`--pairs` of each. tokens/s are the engine's own figures from events.jsonl: trained tokens over
summed step times, steps 6+ (the first steps compile).

    python bench/watch_cost.py                                  # 2 pairs, ~6 min on 2 cores
    python bench/watch_cost.py --pairs 3 --app-root /work/wt-before

The ratio watched / headless is the price of watching (1.00 = free). Record the load with it: on
a shared machine the ratio is noise, and the cockpit's own CPU use over the same steps (% of one
core, also printed) is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from screen_switch import (
    REPO,
    VENV_BIN,
    Pane,
    count_steps,
    ensure_demo,
    make_home,
    start_run,
    stop_run,
)

PROFILE = "watch-bench"
SKIP = 5  # the first steps compile and warm caches


def write_profile(home: Path, steps: int) -> None:
    """The issue's setting: float32, batch 4 (no accumulation), sequence 512, LoRA on all blocks."""
    text = (REPO / "profiles" / "cpu.toml").read_text()
    changes = {
        "batch_size": 4,
        "grad_accumulation": 1,
        "max_seq_length": 512,
        "lora_layers": -1,
        "iters": steps,
        "eval_every": 100_000,
        "save_every": 100_000,
        "val_batches": 1,
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        lines.append(f"{key} = {changes[key]}" if key in changes and "=" in line else line)
    (home / "profiles" / f"{PROFILE}.toml").write_text("\n".join(lines) + "\n")


def tokens_per_sec(run_dir: Path) -> float:
    steps = [
        e
        for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines())
        if e.get("type") == "step"
    ]
    before, measured = steps[SKIP - 1], steps[SKIP:]
    tokens = measured[-1]["trained_tokens"] - before["trained_tokens"]
    return tokens / sum(e["step_time"] for e in measured)


def wait_until_done(
    run_dir: Path, steps: int, cockpit: int | None, timeout: float = 1800.0
) -> float | None:
    """Until the run wrote its last step and its supervisor is gone; the cockpit's (process id)
    CPU use over the measured steps, in percent of one core."""
    import psutil

    deadline = time.monotonic() + timeout
    proc = psutil.Process(cockpit) if cockpit else None
    start = None  # (wall, cpu seconds) once step SKIP is written
    cpu = None
    while count_steps(run_dir) < steps or _alive(run_dir):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run_dir.name} not done after {timeout:.0f} s")
        done = count_steps(run_dir)
        if proc is not None and done >= SKIP:
            times = proc.cpu_times()
            now = (time.monotonic(), times.user + times.system)
            if start is None:
                start = now
            elif done < steps:
                cpu = 100 * (now[1] - start[1]) / max(now[0] - start[0], 1e-9)
        time.sleep(0.5)
    return cpu


def _alive(run_dir: Path) -> bool:
    import psutil

    try:
        return psutil.Process(int((run_dir / "supervisor.pid").read_text())).is_running()
    except (psutil.Error, OSError, ValueError):
        return False


def one_run(
    home: Path, steps: int, watched: bool, app_root: Path | None, size: tuple[int, int]
) -> tuple[float, float | None]:
    """tokens/s of one run (steps 6+), and the cockpit's CPU use meanwhile (% of a core) if
    watched."""
    run_dir = start_run(home, "--profile", PROFILE, "--iters", str(steps))
    pane = None
    cockpit = None
    try:
        if watched:
            env = {"FARENSE_HOME": str(home), "PYTHONPATH": str(app_root or REPO)}
            pane = Pane(size, [str(VENV_BIN / "farense-tui")], env)
            pane.wait_for("training", 60)  # attached to the live run at start
            pane.keys("3")
            pane.wait_for("monitor")
            cockpit = int(pane.command("display-message -p -t bench '#{pane_pid}'")[0])
        cpu = wait_until_done(run_dir, steps, cockpit)
    finally:
        if pane is not None:
            pane.close()
        stop_run(run_dir)
    return tokens_per_sec(run_dir), cpu


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", default="120x40", help="the cockpit's terminal, COLSxROWS")
    ap.add_argument("--app-root", type=Path, help="a checkout whose farense_tui the cockpit runs")
    args = ap.parse_args()
    size = tuple(int(n) for n in args.size.lower().split("x"))
    root = args.app_root.resolve() if args.app_root else None
    home = make_home()
    ensure_demo(home)
    write_profile(home, args.steps)
    print(
        f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min), {os.cpu_count()} "
        f"CPUs; "
        f"cockpit {root or REPO}",
        flush=True,
    )
    results: dict[bool, list[float]] = {True: [], False: []}
    cockpit_cpu: list[float] = []
    try:
        for pair in range(args.pairs):
            order = (True, False) if pair % 2 == 0 else (False, True)
            for watched in order:
                tps, cpu = one_run(home, args.steps, watched, root, size)
                results[watched].append(tps)
                if cpu is not None:
                    cockpit_cpu.append(cpu)
                print(
                    f"pair {pair + 1} {'watched ' if watched else 'headless'} {tps:.1f} tokens/s"
                    + (f", cockpit CPU {cpu:.1f}% of a core" if cpu is not None else "")
                    + f" (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    watched, headless = statistics.mean(results[True]), statistics.mean(results[False])
    pairs = [w / h for w, h in zip(results[True], results[False])]
    cpu = statistics.mean(cockpit_cpu) if cockpit_cpu else float("nan")
    print(
        f"| {root or REPO} | {args.size} | {watched:.1f} | {headless:.1f} | "
        f"{watched / headless:.3f} | "
        f"{' '.join(f'{r:.3f}' for r in pairs)} | {cpu:.1f} |"
    )
    print(
        "(columns: cockpit, size, watched tokens/s, headless tokens/s, ratio, ratio per pair, "
        "cockpit CPU % of one core over steps 6+)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
