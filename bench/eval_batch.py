"""Benchmark: `eval`'s greedy answers one at a time (stream_generate) against batched
(engine/evaluate/batched.py), same model, adapter and examples, in one process; checks the answers
are identical and prints wall time, generated tokens/s and MLX peak memory of each.

  flock /tmp/farense-bench.lock python bench/eval_batch.py                       # demo, float32
  flock /tmp/farense-bench.lock python bench/eval_batch.py --precision 4bit --adapter runs/X/final
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farense_tui.engine.machine.blas import load_fast_blas  # noqa: E402

load_fast_blas()

import mlx.core as mx  # noqa: E402

from farense_tui.engine.chat.service import adapter_off  # noqa: E402
from farense_tui.engine.data.system_message import training_system_message  # noqa: E402
from farense_tui.engine.evaluate.batched import greedy_answers, one_answer, prompt_tokens  # noqa: E402
from farense_tui.engine.evaluate.examples import load_eval_set  # noqa: E402
from farense_tui.engine.models.loading import load_base  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(REPO / "models" / "smollm2-135m-instruct"))
    p.add_argument(
        "--precision", default="float32", help="float32 (the cpu profile) or 4bit (as stored)"
    )
    p.add_argument("--adapter", help="an adapter folder (runs/<id>/final); default: the base model")
    p.add_argument("--data", default=str(REPO / "data"))
    p.add_argument("--split", default="test")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--batch", type=int, nargs="+", default=[16])
    p.add_argument("--limit", type=int, default=0, help="first N examples only (default all)")
    p.add_argument(
        "--base-side", action="store_true", help="with --adapter: also answer with the LoRA scale 0"
    )
    args = p.parse_args()

    model, tokenizer = load_base(args.model, args.precision)
    if args.adapter:
        from mlx_lm.tuner.utils import load_adapters

        load_adapters(model, args.adapter)
        mx.eval(model.parameters())
    model.eval()
    data = load_eval_set(
        Path(args.data) / f"{args.split}.jsonl", training_system_message(Path(args.data))
    )
    examples = data.examples[: args.limit or None]
    sides = ("adapter", "base") if args.adapter and args.base_side else ("model",)
    print(
        f"load {os.getloadavg()} · {args.model} {args.precision} adapter={args.adapter} · "
        f"{len(examples)} examples × {sides} · max_tokens {args.max_tokens}",
        flush=True,
    )
    for side in sides:
        with adapter_off(model) if side == "base" else nullcontext():
            one = measure(
                lambda: [
                    one_answer(model, tokenizer, e.messages, args.max_tokens) for e in examples
                ]
            )
            rows = [
                f"| {side} | one at a time | {one['wall']} | {one['tokens']} | {one['tps']} | "
                f"{one['peak']} | — |"
            ]
            for batch in args.batch:
                prompts = [prompt_tokens(tokenizer, e.messages) for e in examples]

                def batched():
                    got = {
                        i: (t, n)
                        for i, t, n in greedy_answers(
                            model, tokenizer, prompts, args.max_tokens, batch
                        )
                    }
                    return [got[i] for i in range(len(prompts))]

                res = measure(batched)
                same = sum(a == b for a, b in zip(one["answers"], res["answers"]))
                for i, (a, b) in enumerate(zip(one["answers"], res["answers"])):
                    if a != b:
                        print(
                            f"DIFFERENT {side} batch {batch} example {i}:\n  one:   {a!r}\n  "
                            f"batch: {b!r}"
                        )
                rows.append(
                    f"| {side} | batch {batch} | {res['wall']} | {res['tokens']} | {res['tps']} | "
                    f"{res['peak']} | {same}/{len(examples)} identical, "
                    f"{one['wall'] / res['wall']}x |"
                )
        print("| side | how | wall s | tokens | tokens/s | MLX peak GB | answers, speed-up |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows), flush=True)
    print(f"load after {os.getloadavg()}")
    print(json.dumps({"mlx": mx.__version__}))
    return 0


def measure(fn) -> dict:
    mx.clear_cache()
    mx.reset_peak_memory()
    tic = time.perf_counter()
    answers = fn()
    wall = time.perf_counter() - tic
    tokens = sum(n for _, n in answers)
    return {
        "answers": answers,
        "wall": wall,
        "tokens": tokens,
        "tps": tokens / wall,
        "peak": mx.get_peak_memory() / 1e9,
    }


if __name__ == "__main__":
    sys.exit(main())
