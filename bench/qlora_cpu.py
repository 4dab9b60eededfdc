"""The demo model at its stored 4-bit vs dequantized to float32, trained the same few steps on this
CPU through the real supervisor and engine processes: tokens/s, seconds/step, MLX peak and RSS.

Same data, seed and settings for both (the cpu profile, lightened so a 4-bit step takes seconds, not
minutes); only base_precision differs. Steps 1 and 2 compile (one graph per micro-batch width and
accumulation position), so the medians are over the later steps; every step is printed too.

  flock /tmp/farense-bench.lock python bench/qlora_cpu.py --iters 6     # results for BENCHMARKS.md
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
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--lora-layers", type=int, default=4)
    ap.add_argument("--precisions", nargs="+", default=["4bit", "float32"])
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="farense-qlora-"))
    os.environ["FARENSE_HOME"] = str(home)
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir()
    from farense_tui.engine.profiles.profile import load_profile
    from farense_tui.engine.runs.config import RunConfig
    from tests.engine_helpers import events, start_run, wait_done

    model = (REPO / "models" / "smollm2-135m-instruct").resolve()
    for precision in args.precisions:
        profile = load_profile("cpu").replace(
            base_precision=precision,
            iters=args.iters,
            batch_size=args.batch_size,
            grad_accumulation=1,
            lora_layers=args.lora_layers,
            val_batches=1,
            eval_every=10_000,
            save_every=10_000,
            warmup_steps=0,
        )
        tic = time.perf_counter()
        run_dir = start_run(RunConfig(profile=profile, model=str(model), data=str(REPO / "data")))
        info = wait_done(run_dir, timeout=3600)
        wall = time.perf_counter() - tic
        steps = events(run_dir, "step")
        later = steps[2:] or steps
        print(
            f"{precision}: {info.status}, {len(steps)} steps, wall {wall:.3f} s (load + first "
            f"validation + steps)"
        )
        for e in steps:
            print(
                f"  step {e['step']}: {e['step_time']} s, {e['tokens_per_sec']} tok/s, loss "
                f"{e['loss']}, "
                f"input tokens {e['input_tokens']}, MLX peak {e['mem_peak_gb']} GB, RSS "
                f"{e['rss_gb']} GB"
            )
        print(
            f"  median of steps 3+: {statistics.median(e['step_time'] for e in later)} s/step, "
            f"{statistics.median(e['tokens_per_sec'] for e in later)} tok/s; max MLX peak "
            f"{max(e['mem_peak_gb'] for e in steps)} GB, max RSS {max(e['rss_gb'] for e in steps)} "
            f"GB"
        )
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
