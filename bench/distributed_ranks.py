"""1 rank vs N local ranks (mlx.launch, ring over 127.0.0.1) on one machine: same losses, and what
the ranks cost. On a 2-core machine there is no speed-up to find; the point is correctness and the
overhead of the launcher, the second process and the per-step all_sum.

Each run trains the tiny test model (tests/tiny_model.py, built here with a wider `--hidden`)
through the real supervisor and engine processes, batch 2 x accumulation 2 (one micro-batch per
rank on 2 ranks).

  python bench/distributed_ranks.py --iters 60 --hidden 256     # results for BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument(
        "--hidden", type=int, default=256, help="the tiny model's hidden size (heavier steps)"
    )
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="farense-ranks-"))
    os.environ["FARENSE_HOME"] = str(home)
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir()
    from tests import tiny_model
    from tests.engine_helpers import events, losses, start_run, tiny_config, wait_done

    tiny_model.CONFIG.update(hidden_size=args.hidden, intermediate_size=2 * args.hidden)
    model, data = tiny_model.build(home / "tiny"), tiny_model.write_data(home / "data" / "tiny")
    reference = None
    for ranks in args.ranks:
        cfg = tiny_config(model, data, iters=args.iters, save_every=1000, eval_every=1000)
        cfg.ranks = ranks
        tic = time.perf_counter()
        run_dir = start_run(cfg)
        info = wait_done(run_dir, timeout=1800)
        wall = time.perf_counter() - tic
        steps = events(run_dir, "step")[5:]  # the first steps compile
        step_time = statistics.median(e["step_time"] for e in steps)
        tps = statistics.median(e["tokens_per_sec"] for e in steps)
        peaks = (
            [max(e["mem_peak_gb"] for e in steps)]
            if ranks == 1
            else [max(e["ranks"][r]["mem_peak_gb"] for e in steps) for r in range(ranks)]
        )
        rss = max(e["rss_gb"] for e in steps)
        got = losses(run_dir)
        reference = reference or got
        diff = max(abs(got[s] - reference[s]) for s in reference)
        print(
            f"{ranks} rank(s): {info.status}, wall {wall:.1f} s, median step "
            f"{step_time * 1000:.1f} ms, "
            f"{tps:.0f} tok/s, MLX peak per rank {[round(p * 1024, 1) for p in peaks]} MB, rank-0 "
            f"RSS "
            f"{rss * 1024:.0f} MB, max |loss - 1 rank| {diff:.2e}"
        )
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
