"""Benchmark: farense-tui's engine against the `mlx_lm lora` CLI on the same model, data and settings.

Runs, in one invocation and one after the other (never concurrently):
  1. `mlx_lm lora` (its real CLI main(), with an atexit hook that prints MLX's peak memory, which
     its UI does not show) — tokens/s parsed from its report lines;
  2. our engine through the real supervisor + engine processes, with per-step events;
  3. our engine with per-step events off (the cost of the event stream).
and prints a markdown table with tokens/s, peak memory and the ratios.

  python bench/bench_vs_mlx_lm.py --iters 30            # demo model as float32, Farense data
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farense_tui.engine import runs  # noqa: E402
from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402
from farense_tui.engine.models.local import resolve_model  # noqa: E402
from farense_tui.engine.profiles.profile import load_profile  # noqa: E402
from farense_tui.engine.runs.config import RunConfig  # noqa: E402
from farense_tui.engine.runs.events import read_all  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*m")
REPORT = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,]+)\s+([\d.]+)k", re.M)
WARMUP = 5  # steps left out of tokens/s on both sides (first compilations)
KEYS = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
]


def float32_copy(model: str, out: Path) -> Path:
    """mlx-lm's own convert (--dequantize) so both trainers start from the same float32 base."""
    if not (out / "config.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mlx_lm",
                "convert",
                "--hf-path",
                model,
                "--mlx-path",
                str(out),
                "--dequantize",
                "--dtype",
                "float32",
            ],
            check=True,
            capture_output=True,
        )
    return out


def run_mlx_lm(a, model: Path, data: Path, work: Path) -> dict:
    config = {
        "lora_parameters": {"rank": a.rank, "scale": a.scale, "dropout": 0.0, "keys": KEYS},
        "mask_prompt": True,
        "optimizer": "adamw",
        "optimizer_config": {"adamw": {"weight_decay": 0.0}},
        # the schedule our engine builds for warmup 0 (training/setup.py schedule), so both optimise
        # alike
        "lr_schedule": {
            "name": "cosine_decay",
            "warmup": 0,
            "arguments": [a.lr, a.iters, a.lr * 0.1],
        },
    }
    cfg_file = work / "mlx_lm_config.yaml"
    cfg_file.write_text(json.dumps(config))  # JSON is valid YAML
    hook = (
        "import atexit, mlx.core as mx, mlx_lm.lora as l;"
        "atexit.register(lambda: print('PEAK_BYTES', mx.get_peak_memory()));"
        "import sys; sys.argv=['mlx_lm.lora']+sys.argv[1:]; l.main()"
    )
    cmd = [
        sys.executable,
        "-c",
        hook,
        "--model",
        str(model),
        "--train",
        "--data",
        str(data),
        "--iters",
        str(a.iters),
        "--batch-size",
        str(a.batch),
        "--num-layers",
        str(a.layers),
        "--max-seq-length",
        str(a.seq),
        "--learning-rate",
        str(a.lr),
        "--steps-per-report",
        "5",
        "--steps-per-eval",
        str(a.iters * 10),
        "--val-batches",
        "2",
        "--save-every",
        str(a.iters * 10),
        "--adapter-path",
        str(work / "mlx_lm_adapters"),
        "-c",
        str(cfg_file),
    ]
    tic = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=with_fast_blas(dict(os.environ)))
    wall = time.perf_counter() - tic
    if out.returncode:
        raise SystemExit(f"mlx_lm lora failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    text = ANSI.sub("", out.stdout)  # rich colours its output even into a pipe
    reports = [
        (int(i), float(loss), float(t.replace(",", ""))) for i, loss, t, _ in REPORT.findall(text)
    ]
    peak = int(re.search(r"PEAK_BYTES (\d+)", out.stdout).group(1)) / 1024**3
    steady = [t for i, _, t in reports if i > WARMUP]
    return {
        "tokens_per_sec": statistics.mean(steady),
        "peak_gb": peak,
        "wall_s": wall,
        "mean_loss": statistics.mean(loss for i, loss, _ in reports if i > WARMUP),
    }


def run_ours(a, model: Path, data: Path, events_on: bool) -> dict:
    profile = load_profile("cpu").replace(
        batch_size=a.batch,
        grad_accumulation=1,
        iters=a.iters,
        max_seq_length=a.seq,
        lora_layers=a.layers,
        lora_rank=a.rank,
        lora_scale=a.scale,
        learning_rate=a.lr,
        warmup_steps=0,
        save_every=a.iters * 10,
        eval_every=a.iters * 10,
        val_batches=2,
        memory_budget_gb=64.0,
    )
    cfg = RunConfig(profile=profile, model=str(model), data=str(data), events=events_on)
    run_dir = runs.create_run(cfg, runs_root=Path(tempfile.mkdtemp(prefix="bench-runs-")))
    tic = time.perf_counter()
    runs.start(run_dir).wait()
    wall = time.perf_counter() - tic
    events = read_all(run_dir / "events.jsonl")
    if events[-1].get("state") != "finished":
        raise SystemExit(
            f"our engine did not finish: "
            f"{events[-3:]}\n{(run_dir / 'engine.log').read_text()[-2000:]}"
        )
    start = next(e["time"] for e in events if e["type"] == "state" and e["state"] == "training")
    end = next(e["time"] for e in events if e["type"] == "eval" and e["step"] == a.iters)
    result = {"wall_s": wall, "train_span_s": end - start}
    steps = [e for e in events if e["type"] == "step"]
    if steps:
        steady = [
            e for e in steps if e["step"] > WARMUP
        ]  # as for mlx_lm: skip the compile-heavy first steps
        result.update(
            tokens_per_sec=(steady[-1]["trained_tokens"] - steps[WARMUP - 1]["trained_tokens"])
            / sum(e["step_time"] for e in steady),
            peak_gb=max(e["mem_peak_gb"] for e in steps),
            mean_loss=statistics.mean(e["loss"] for e in steady),
        )
    return result


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="default: the embedded demo model")
    p.add_argument("--data", default=str(REPO / "data"))
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--scale", type=float, default=16.0)
    p.add_argument("--lr", type=float, default=5e-4)
    a = p.parse_args()
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    model = float32_copy(resolve_model(a.model), out / "model-float32")
    data = Path(a.data)
    mlx = run_mlx_lm(a, model, data, out)
    ours = run_ours(a, model, data, events_on=True)
    quiet = run_ours(a, model, data, events_on=False)
    print(
        f"\nmodel {model.name} (float32 base), data {data}, {a.iters} iters, batch {a.batch}, seq "
        f"{a.seq}, "
        f"LoRA rank {a.rank} on 7 targets in the last {a.layers} blocks, prompt masked\n"
    )
    print("| | mlx_lm lora | farense-tui | ratio (ours / mlx_lm) |")
    print("|---|---:|---:|---:|")
    print(
        f"| tokens/s (steps {WARMUP + 1}+) | {mlx['tokens_per_sec']:.1f} | "
        f"{ours['tokens_per_sec']:.1f} | "
        f"{ours['tokens_per_sec'] / mlx['tokens_per_sec']:.2f} |"
    )
    print(
        f"| MLX peak memory (GB) | {mlx['peak_gb']:.3f} | {ours['peak_gb']:.3f} | "
        f"{ours['peak_gb'] / mlx['peak_gb']:.2f} |"
    )
    print(
        f"| wall time incl. load (s) | {mlx['wall_s']:.1f} | {ours['wall_s']:.1f} | "
        f"{ours['wall_s'] / mlx['wall_s']:.2f} |"
    )
    print(
        f"| mean train loss, steps {WARMUP + 1}+ | {mlx['mean_loss']:.3f} | "
        f"{ours['mean_loss']:.3f} | |"
    )
    print(
        f"\nevent stream cost: training span {ours['train_span_s']:.1f} s with per-step events, "
        f"{quiet['train_span_s']:.1f} s without "
        f"({ours['train_span_s'] / quiet['train_span_s']:.3f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
