"""Before and after a preference run: on the valid pairs, how often the model's summed log-prob
of the chosen reply beats the rejected one's (and by how much), for the run's base and for its
adapter; and the greedy answers of both to a few valid questions.

  python bench/preference_margin.py RUN [--checkpoint best|final|STEP] [--answers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402

if os.environ.get("LD_PRELOAD", "") != with_fast_blas(dict(os.environ)).get("LD_PRELOAD", ""):
    os.execve(
        sys.executable, [sys.executable, *sys.argv], with_fast_blas(dict(os.environ))
    )  # OpenBLAS, as the engine

import numpy as np  # noqa: E402
from mlx_lm import generate  # noqa: E402
from mlx_lm.sample_utils import make_sampler  # noqa: E402
from mlx_lm.tuner.utils import load_adapters  # noqa: E402

from farense_tui.engine.data.jsonl import read_jsonl  # noqa: E402
from farense_tui.engine.data.preference_records import prompt_messages  # noqa: E402
from farense_tui.engine.data.preference_set import load_preference_split  # noqa: E402
from farense_tui.engine.models.loading import load_base  # noqa: E402
from farense_tui.engine.runs.config import RunConfig  # noqa: E402
from farense_tui.engine.training.preference_objective import DPOObjective  # noqa: E402
from farense_tui.engine.training.reference_logprobs import reference_logprobs  # noqa: E402


def preference(model, pairs, cfg) -> np.ndarray:
    objective = DPOObjective(model, cfg.profile.beta)
    return reference_logprobs(
        objective, model, pairs, cfg.profile.batch_size, cfg.profile.max_seq_length
    )


def answers(model, tokenizer, rows, n):
    out = []
    for row in rows[:n]:
        prompt = tokenizer.apply_chat_template(
            prompt_messages(row), add_generation_prompt=True, tokenize=False
        )
        out.append(
            generate(model, tokenizer, prompt, max_tokens=48, sampler=make_sampler(0.0)).strip()
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--checkpoint", default="best")
    ap.add_argument("--answers", type=int, default=2)
    a = ap.parse_args()
    run_dir = Path(a.run)
    cfg = RunConfig.load(run_dir / "config.toml")
    step = f"step-{int(a.checkpoint):07d}" if a.checkpoint.isdigit() else None
    adapter = run_dir / "checkpoints" / step if step else run_dir / a.checkpoint
    valid_path = Path(cfg.data) / "valid.jsonl"
    rows = read_jsonl(valid_path)
    model, tokenizer = load_base(cfg.model, cfg.profile.base_precision)
    pairs = load_preference_split(valid_path, tokenizer, rows)
    results = {"base": (preference(model, pairs, cfg), answers(model, tokenizer, rows, a.answers))}
    load_adapters(model, str(adapter))
    results["adapter"] = (preference(model, pairs, cfg), answers(model, tokenizer, rows, a.answers))
    base = results["base"][0]
    print(f"valid pairs: {len(pairs)}; adapter: {adapter}")
    for name, (logp, said) in results.items():
        margin = logp[:, 0] - logp[:, 1]
        reward = cfg.profile.beta * ((logp[:, 0] - base[:, 0]) - (logp[:, 1] - base[:, 1]))
        print(
            f"{name}: log p(chosen) > log p(rejected) in {int((margin > 0).sum())}/{len(margin)} "
            f"pairs; "
            f"mean log-prob margin {float(margin.mean())!r} nats; "
            f"DPO reward margin vs base {float(reward.mean())!r}, "
            f"accuracy {float((reward > 0).mean())!r}"
        )
        for row, text in zip(rows, said):
            print(f"  Q: {prompt_messages(row)[-1]['content']}\n  A: {text}")


if __name__ == "__main__":
    main()
