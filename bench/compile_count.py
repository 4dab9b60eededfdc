"""How often the compiled training step is traced (compiled anew) under a profile, and what a new
trace costs: the question behind the 4-bit GPU runs that made no step in 3 minutes.

mx.compile traces again for every new input shape and input structure. A step's micro-batches are
padded to 1 + a multiple of 32 tokens (data/padding.py), and the first micro-batch of a step calls
`accumulate` with no gradient sum yet, a different structure from the next ones: so one trace per
(width, rows, first or not). Part 1 counts them over the demo data with the demo model's tokenizer;
part 2 trains the tiny llama stored 4-bit (tests/tiny_model.py) on the same data with our compiled
step, counting traces (the loss function's Python body runs only while tracing) and timing steps.

  flock /tmp/farense-bench.lock python bench/compile_count.py --profile mac-16gb --steps 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def signatures(train_set, order, p, steps: int) -> list[set]:
    from farense_tui.engine.training.batching import micro_batches

    out = []
    for step in range(1, steps + 1):
        batches = micro_batches(train_set, order.group_for(step), p.batch_size, p.max_seq_length)
        out.append({(tuple(b.shape), i == 0) for i, (b, _) in enumerate(batches)})
    return out


def new_per_step(sigs: list[set]) -> list[int]:
    seen, counts = set(), []
    for s in sigs:
        counts.append(len(s - seen))
        seen |= s
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="mac-16gb")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--data", default=str(REPO / "data"))
    ap.add_argument("--model", default=str(REPO / "models" / "smollm2-135m-instruct"))
    args = ap.parse_args()
    import mlx.core as mx
    import mlx.optimizers as optim
    from mlx_lm.utils import load

    from farense_tui.engine.models.loading import add_lora, load_base
    from farense_tui.engine.profiles.profile import load_profile
    from farense_tui.engine.training import steps as steps_module
    from farense_tui.engine.training.batching import StepOrder
    from farense_tui.engine.training.objective import SupervisedObjective
    from farense_tui.engine.training.ranks import Ranks
    from farense_tui.engine.training.setup import schedule
    from farense_tui.engine.training.splits import load_splits
    from tests import tiny_model

    p = load_profile(args.profile)
    _, tokenizer = load(args.model, lazy=True)
    train_set = load_splits(Path(args.data), tokenizer, p.mask_prompt)[0]
    lengths = [len(train_set[i][0]) for i in range(len(train_set))]
    order = StepOrder(lengths, p.effective_batch, p.seed)
    total = p.iters or p.epochs * order.steps_per_epoch
    sigs = signatures(train_set, order, p, total)
    counts = new_per_step(sigs)
    print(
        f"part 1: {args.profile} on {args.data} with {Path(args.model).name}'s tokenizer: {total} "
        f"steps, "
        f"batch {p.batch_size} x {p.grad_accumulation}; {sum(counts)} distinct (shape, first) "
        f"signatures of "
        f"`accumulate`; steps bringing new ones: {[s + 1 for s, c in enumerate(counts) if c]}"
    )
    print(
        f"  example lengths {min(lengths)}..{max(lengths)} tokens; widths used "
        f"{sorted({shape[1] for s in sigs for shape, _ in s})}"
    )

    folder = tiny_model.build_quantized(
        Path(tempfile.mkdtemp(prefix="farense-compile-")) / "tiny-4bit", 4, 32
    )
    model, tok = load_base(str(folder), p.base_precision)
    add_lora(model, p)
    train_set = load_splits(Path(args.data), tok, p.mask_prompt)[0]
    order = StepOrder(
        [len(train_set[i][0]) for i in range(len(train_set))], p.effective_batch, p.seed
    )
    traces = []
    objective = SupervisedObjective(model)
    real_loss = objective.loss

    def counted(*a):
        traces.append(1)  # runs only while mx.compile traces
        return real_loss(*a)

    objective.loss = counted
    optimizer = optim.AdamW(learning_rate=schedule(p, total), weight_decay=p.weight_decay)
    compiled = steps_module.CompiledSteps(model, optimizer, Ranks(), objective)
    model.train()
    times, traced = [], []
    for step in range(1, args.steps + 1):
        before = len(traces)
        tic = time.perf_counter()
        compiled.run(
            objective.batches(train_set, order.group_for(step), p.batch_size, p.max_seq_length)
        )
        times.append(time.perf_counter() - tic)
        traced.append(len(traces) - before)
    with_trace = [t for t, n in zip(times, traced) if n]
    without = [t for t, n in zip(times, traced) if not n]
    print(
        f"part 2: tiny llama 4-bit g32, {args.profile}, {args.steps} steps: {len(traces)} traces "
        f"of the loss, "
        f"at steps {[s + 1 for s, n in enumerate(traced) if n]}"
    )
    print(
        f"  step time with a new trace: median "
        f"{statistics.median(with_trace) if with_trace else None} s "
        f"(max {max(with_trace) if with_trace else None}); without: median "
        f"{statistics.median(without) if without else None} s; MLX peak "
        f"{mx.get_peak_memory() / 1024**3} GB"
    )
    print(f"  every step (s, traces): {[(round(t, 4), n) for t, n in zip(times, traced)]}")


if __name__ == "__main__":
    main()
