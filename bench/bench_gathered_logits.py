"""Benchmark: the loss on gathered, chunked logits against full logits, and against `mlx_lm lora`.

Same model (float32 copy of the demo model, as the cpu profile trains on CPU), data, batch, max
sequence, LoRA settings and step order for the three; each in its own process (clean MLX peak,
OpenBLAS preloaded). Ours run the real CompiledSteps with the SupervisedObjective, once with its
head and once with the head removed (the full-logits fallback), so only the loss differs.

  python bench/bench_gathered_logits.py --iters 15 --seq 512                 # the demo's Q&A data
  python bench/bench_gathered_logits.py --iters 15 --seq 512 --data pydoc    # Python's pydoc topics
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_vs_mlx_lm import float32_copy, run_mlx_lm  # noqa: E402

from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402
from farense_tui.engine.models.local import resolve_model  # noqa: E402

WARMUP = 5  # as bench_vs_mlx_lm: steps 1-5 (compilations) are left out of tokens/s on every side


def pydoc_topics(out: Path) -> Path:
    """Text the project did not write: CPython's own pydoc topics (pydoc_data/topics.py, the
    language reference's sections), cut into ~1,600-character pieces, as mlx-lm's {"text"} format."""
    import pydoc_data.topics as topics

    folder = out / "pydoc-topics"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(topics.topics[k] for k in sorted(topics.topics))
    pieces = [text[i : i + 1600] for i in range(0, len(text), 1600)]
    for name, rows in (("train", pieces[:-20]), ("valid", pieces[-20:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in rows))
    return folder


def run_variant(a, model: Path, data: Path) -> dict:
    """One of ours, in this process: the real compiled steps over the engine's step order."""
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm import load

    from farense_tui.engine.models.loading import add_lora
    from farense_tui.engine.profiles.profile import load_profile
    from farense_tui.engine.training.batching import StepOrder
    from farense_tui.engine.training.objective import SupervisedObjective
    from farense_tui.engine.training.ranks import Ranks
    from farense_tui.engine.training.setup import schedule
    from farense_tui.engine.training.splits import load_splits
    from farense_tui.engine.training.steps import CompiledSteps

    profile = load_profile("cpu").replace(batch_size=a.batch, grad_accumulation=1, iters=a.iters,
                                          max_seq_length=a.seq, lora_layers=a.layers, lora_rank=a.rank,
                                          lora_scale=a.scale, learning_rate=a.lr, warmup_steps=0)
    mx.random.seed(0)
    model_, tokenizer = load(str(model))
    add_lora(model_, profile)
    train = load_splits(data, tokenizer, True).train
    order = StepOrder([len(train[i][0]) for i in range(len(train))], a.batch, 0)
    objective = SupervisedObjective(model_)
    if a.variant == "full":
        objective.head = None
    steps = CompiledSteps(model_, optim.AdamW(learning_rate=schedule(profile, a.iters), weight_decay=0.0),
                          Ranks(), objective)
    mx.reset_peak_memory()
    rows = []
    for step in range(1, a.iters + 1):
        tic = time.perf_counter()
        loss, ntoks, _ = steps.run(objective.batches(train, order.group_for(step), a.batch, a.seq))
        rows.append((loss, ntoks, time.perf_counter() - tic))
    steady = rows[WARMUP:]
    return {"tokens_per_sec": sum(n for _, n, _ in steady) / sum(t for _, _, t in steady),
            "peak_gb": mx.get_peak_memory() / 1024**3, "mean_loss": statistics.mean(l for l, _, _ in steady),
            "chunk": objective.chunk}


def ours(a, model: Path, data: Path, variant: str) -> dict:
    cmd = [sys.executable, __file__, "--variant", variant, "--model-path", str(model), "--data", str(data),
           *(f"--{k}={getattr(a, k)}" for k in ("iters", "batch", "seq", "layers", "rank", "scale", "lr"))]
    out = subprocess.run(cmd, capture_output=True, text=True, env=with_fast_blas(dict(os.environ)))
    if out.returncode:
        raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="default: the embedded demo model")
    p.add_argument("--model-path", default=None, help=argparse.SUPPRESS)
    p.add_argument("--variant", choices=("gathered", "full"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=str(REPO / "data"), help="a data folder, or 'pydoc'")
    p.add_argument("--iters", type=int, default=15)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--scale", type=float, default=16.0)
    p.add_argument("--lr", type=float, default=5e-4)
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a, Path(a.model_path), Path(a.data))))
        return 0
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    model = float32_copy(resolve_model(a.model), out / "model-float32")
    data = pydoc_topics(out) if a.data == "pydoc" else Path(a.data)
    results = {"gathered": ours(a, model, data, "gathered"), "full": ours(a, model, data, "full"),
               "mlx_lm": run_mlx_lm(a, model, data, out)}
    print(f"\nmodel {model.name} (float32), data {data}, {a.iters} iters, batch {a.batch}, seq {a.seq}, "
          f"LoRA rank {a.rank} in the last {a.layers} blocks, prompt masked; chunk {results['gathered']['chunk']}\n")
    print("| | gathered | full logits | mlx_lm lora | gathered / full | gathered / mlx_lm |")
    print("|---|---:|---:|---:|---:|---:|")
    g, f, m = results["gathered"], results["full"], results["mlx_lm"]
    for key, label in (("tokens_per_sec", f"tokens/s (steps {WARMUP + 1}+)"), ("peak_gb", "MLX peak (GB)"),
                       ("mean_loss", f"mean train loss, steps {WARMUP + 1}+")):
        print(f"| {label} | {g[key]!r} | {f[key]!r} | {m[key]!r} | {g[key] / f[key]!r} | {g[key] / m[key]!r} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
