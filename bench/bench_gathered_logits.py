"""Benchmark: the loss on gathered, chunked logits against full logits, and against `mlx_lm lora`.

Like for like: same model (float32 copy of the demo model, as the cpu profile trains on CPU),
data, batches (the engine's step order, so the same examples in the same order and padding),
LoRA settings, seed and optimizer for the three; each in its own process (clean MLX peak and
process RSS, OpenBLAS preloaded). Ours run the real CompiledSteps with the SupervisedObjective,
once with its head and once with the head removed (the full-logits fallback), so only the loss
differs. mlx_lm runs its own `train()` (what `mlx_lm lora` calls, its compiled step and its
clear_cache per step) fed those batches through its `iterate_batches` hook, and reports every
step through its TrainingCallback, so its tokens/s are unrounded and its step times are its own.

  python bench/bench_gathered_logits.py --iters 15 --seq 512                 # the demo's Q&A data
  python bench/bench_gathered_logits.py --iters 15 --seq 512 --data pydoc    # Python's pydoc topics
  ... --grad-checkpoint                                                      # as the Mac profiles
  ... --variants gathered --chunk 512 --backward keep                       # one of ours, other settings
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_vs_mlx_lm import float32_copy  # noqa: E402

from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402
from farense_tui.engine.models.local import resolve_model  # noqa: E402

WARMUP = 5  # default: steps 1-5 (compilations) are left out of tokens/s on every side


def pydoc_topics(out: Path) -> Path:
    """Text the project did not write: CPython's own pydoc topics (pydoc_data/topics.py, the
    language reference's sections), cut into ~2,200-character pieces (most past 512 tokens, so
    batches are 512 wide), as mlx-lm's {"text"} format."""
    import pydoc_data.topics as topics

    folder = out / "pydoc-topics"
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join(topics.topics[k] for k in sorted(topics.topics))
    pieces = [text[i : i + 2200] for i in range(0, len(text), 2200)]
    for name, rows in (("train", pieces[:-20]), ("valid", pieces[-20:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": p}) + "\n" for p in rows))
    return folder


def run_variant(a, model: Path, data: Path) -> dict:
    """One side, in this process: (loss, target tokens, seconds) per step over the engine's
    order."""
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm import load

    from farense_tui.engine.models.loading import add_lora
    from farense_tui.engine.profiles.profile import load_profile
    from farense_tui.engine.training.batching import StepOrder, micro_batches
    from farense_tui.engine.training.setup import schedule
    from farense_tui.engine.training.splits import load_splits

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
    )
    mx.random.seed(0)
    model_, tokenizer = load(str(model))
    add_lora(model_, profile)
    mx.eval(model_.parameters())
    train = load_splits(data, tokenizer, True).train
    order = StepOrder([len(train[i][0]) for i in range(len(train))], a.batch, 0)
    optimizer = optim.AdamW(learning_rate=schedule(profile, a.iters), weight_decay=0.0)
    if a.grad_checkpoint and a.variant != "mlx_lm":  # mlx_lm's train() applies its own
        from mlx_lm.tuner.trainer import grad_checkpoint

        grad_checkpoint(model_.layers[0])
    mx.reset_peak_memory()
    if a.variant == "mlx_lm":
        rows, chunk = mlx_lm_steps(a, model_, optimizer, train, order, micro_batches), 0
    else:
        rows, chunk = our_steps(a, model_, optimizer, train, order)
    steady = rows[a.warmup :]
    cpu = [
        c for *_, c in rows
    ]  # process CPU seconds (all threads) at each step's end: robust to a shared machine
    return {
        "tokens_per_sec": sum(r[1] for r in steady) / sum(r[2] for r in steady),
        "tokens_per_cpu_sec": sum(r[1] for r in steady) / (cpu[-1] - cpu[a.warmup - 1]),
        "peak_gb": mx.get_peak_memory() / 1024**3,
        "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "mean_loss": statistics.mean(r[0] for r in steady),
        "chunk": chunk,
        "losses": [r[0] for r in rows],
        "step_s": [r[2] for r in rows],
        "target_tokens": [r[1] for r in rows],
    }


def our_steps(a, model, optimizer, train, order) -> tuple[list, int]:
    from farense_tui.engine.training.objective import SupervisedObjective
    from farense_tui.engine.training.ranks import Ranks
    from farense_tui.engine.training.steps import CompiledSteps

    objective = SupervisedObjective(model, chunk=a.chunk or None)
    objective.backward = a.backward
    if a.variant == "full":
        objective.head = None
    steps = CompiledSteps(model, optimizer, Ranks(), objective)
    rows = []
    for step in range(1, a.iters + 1):
        tic = time.perf_counter()
        loss, ntoks, _ = steps.run(objective.batches(train, order.group_for(step), a.batch, a.seq))
        rows.append((loss, ntoks, time.perf_counter() - tic, time.process_time()))
    return rows, objective.chunk


def mlx_lm_steps(a, model, optimizer, train, order, micro_batches) -> list:
    """mlx-lm's own train(): its compiled step, its clear_cache, its timing (one report a step)."""
    from mlx_lm.tuner.trainer import TrainingArgs, TrainingCallback
    from mlx_lm.tuner.trainer import train as mlx_lm_train

    def same_batches(dataset, batch_size, max_seq_length, **_):
        for step in range(1, a.iters + 1):
            yield from micro_batches(dataset, order.group_for(step), batch_size, max_seq_length)

    class Steps(TrainingCallback):
        def __init__(self):
            self.rows = []

        def on_train_loss_report(self, info):
            n = info["trained_tokens"] - sum(r[1] for r in self.rows)
            self.rows.append(
                (info["train_loss"], n, n / info["tokens_per_second"], time.process_time())
            )

    report = Steps()
    args = TrainingArgs(
        batch_size=a.batch,
        iters=a.iters,
        max_seq_length=a.seq,
        steps_per_report=1,
        steps_per_eval=a.iters * 10,
        steps_per_save=a.iters * 10,
        grad_checkpoint=a.grad_checkpoint,
        adapter_file=str(Path(a.work) / "mlx_lm_adapters.safetensors"),
    )
    mlx_lm_train(
        model, optimizer, train, None, args, iterate_batches=same_batches, training_callback=report
    )
    return report.rows


def side(a, model: Path, data: Path, variant: str) -> dict:
    flags = [
        f"--{k.replace('_', '-')}={getattr(a, k)}"
        for k in (
            "iters",
            "batch",
            "seq",
            "layers",
            "rank",
            "scale",
            "lr",
            "chunk",
            "work",
            "warmup",
            "backward",
        )
    ]
    cmd = [
        sys.executable,
        __file__,
        "--variant",
        variant,
        "--model-path",
        str(model),
        "--data",
        str(data),
        *flags,
        *(["--grad-checkpoint"] if a.grad_checkpoint else []),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=with_fast_blas(dict(os.environ)))
    if out.returncode:
        raise SystemExit(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="default: the embedded demo model")
    p.add_argument("--model-path", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--variant", choices=("gathered", "full", "mlx_lm"), default=None, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--variants", default="gathered,full,mlx_lm", help="which sides to run, comma-separated"
    )
    p.add_argument("--data", default=str(REPO / "data"), help="a data folder, or 'pydoc'")
    p.add_argument("--iters", type=int, default=15)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--scale", type=float, default=16.0)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=WARMUP, help="first steps left out of tokens/s")
    p.add_argument(
        "--chunk", type=int, default=0, help="positions per head chunk (default: the objective's)"
    )
    p.add_argument(
        "--backward",
        choices=("fused", "recompute", "keep"),
        default="fused",
        help="each head chunk's backward pass (gathered_loss.token_losses)",
    )
    p.add_argument(
        "--grad-checkpoint",
        action="store_true",
        help="every side recomputes each block in backward (mlx-lm's grad_checkpoint, as the "
        "mac-8gb/32gb/64gb profiles train)",
    )
    p.add_argument("--work", default=str(REPO / "bench" / "out"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:
        print(json.dumps(run_variant(a, Path(a.model_path), Path(a.data))))
        return 0
    out = Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    model = float32_copy(resolve_model(a.model), out / "model-float32")
    data = pydoc_topics(out) if a.data == "pydoc" else Path(a.data)
    names = a.variants.split(",")
    results = {name: side(a, model, data, name) for name in names}
    print(
        f"\nmodel {model.name} (float32), data {data}, {a.iters} iters, batch {a.batch}, seq "
        f"{a.seq}, "
        f"LoRA rank {a.rank} in the last {a.layers} blocks, prompt masked; chunk "
        f"{results.get('gathered', {}).get('chunk')}, backward "
        f"{a.backward}, grad checkpoint {a.grad_checkpoint}\n"
    )
    for name, r in results.items():
        print(
            f"{name}: target tokens {r['target_tokens']}\n  losses {r['losses']}\n  step s "
            f"{r['step_s']}"
        )
    ratios = [
        (x, y)
        for x, y in (("gathered", "full"), ("gathered", "mlx_lm"), ("full", "mlx_lm"))
        if x in results and y in results
    ]
    print("\n| | " + " | ".join(names) + "".join(f" | {x} / {y}" for x, y in ratios) + " |")
    print("|---|" + "---:|" * (len(names) + len(ratios)))
    for key, label in (
        ("tokens_per_sec", f"tokens/s (steps {a.warmup + 1}+)"),
        ("tokens_per_cpu_sec", f"tokens per CPU second (steps {a.warmup + 1}+)"),
        ("peak_gb", "MLX peak (GB, after load)"),
        ("rss_gb", "process peak RSS (GB, with load)"),
        ("mean_loss", f"mean train loss, steps {a.warmup + 1}+"),
    ):
        cells = [repr(results[n][key]) for n in names] + [
            repr(results[x][key] / results[y][key]) for x, y in ratios
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
