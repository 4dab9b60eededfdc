"""The logits term of memory_estimate against measured MLX peaks: the gathered, chunked loss and
the full-logits fallback, on small llama shapes whose peak the logits dominate (big vocabulary,
hidden 64, 2 blocks), at several vocabulary x batch x sequence sizes.

Each case trains 3 optimizer steps with the engine's CompiledSteps and SupervisedObjective (AdamW,
LoRA rank 8 on both blocks, float32, every token a target) in a fresh process, and prints MLX's
peak beside estimate_peak(...).mlx_peak_gb for the same shape and profile.

    python bench/calibrate_logits_memory.py
    python bench/calibrate_logits_memory.py --vocabs 16384 --batches 4 --seqs 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402

SHAPE = {
    "model_type": "llama",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
}


def profile_for(batch: int, seq: int):
    from farense_tui.engine.profiles.profile import load_profile

    return load_profile("cpu").replace(
        batch_size=batch,
        grad_accumulation=1,
        max_seq_length=seq,
        lora_layers=2,
        lora_rank=8,
        grad_checkpoint=False,
    )


def measure(vocab: int, batch: int, seq: int, full: bool) -> float:
    """MLX peak (GB) of 3 compiled steps, in this process."""
    import mlx.core as mx
    import mlx.optimizers as optim
    import numpy as np
    from mlx_lm.models import llama

    from farense_tui.engine.models.loading import add_lora
    from farense_tui.engine.training.objective import SupervisedObjective
    from farense_tui.engine.training.ranks import Ranks
    from farense_tui.engine.training.steps import CompiledSteps

    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict({**SHAPE, "vocab_size": vocab}))
    mx.eval(model.parameters())
    add_lora(model, profile_for(batch, seq))
    objective = SupervisedObjective(model)
    if full:
        objective.head = None
    steps = CompiledSteps(model, optim.AdamW(learning_rate=1e-4), Ranks(), objective)
    rng = np.random.default_rng(0)
    tokens = mx.array(rng.integers(0, vocab, (batch, seq)).astype(np.int32))
    lengths = mx.array([[0, seq]] * batch)  # every position a target, as long text without a prompt
    mx.eval(model.parameters())
    mx.reset_peak_memory()
    for _ in range(3):
        steps.run([objective.micro_batch(tokens, lengths)])
    return mx.get_peak_memory() / 1024**3


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--vocabs", default="8192,32768")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--seqs", default="256,512")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        vocab, batch, seq, full = json.loads(a.one)
        print(measure(vocab, batch, seq, full))
        return 0
    from farense_tui.engine.profiles.memory_estimate import estimate_peak

    print(
        "| vocab | batch x seq | loss | measured MLX peak (GB) | estimated (GB) | estimated / "
        "measured | logits term (GB) |"
    )
    print("|---:|---|---|---:|---:|---:|---:|")
    for vocab in map(int, a.vocabs.split(",")):
        for batch in map(int, a.batches.split(",")):
            for seq in map(int, a.seqs.split(",")):
                for full in (False, True):
                    one = json.dumps([vocab, batch, seq, full])
                    out = subprocess.run(
                        [sys.executable, __file__, "--one", one],
                        capture_output=True,
                        text=True,
                        env=with_fast_blas(dict(os.environ)),
                        check=True,
                    )
                    measured = float(out.stdout.strip().splitlines()[-1])
                    config = {
                        **SHAPE,
                        "vocab_size": vocab,
                        "model_type": "phi3" if full else "llama",
                    }
                    est = estimate_peak(config, profile_for(batch, seq), seq_len=seq)
                    print(
                        f"| {vocab} | {batch} x {seq} | {'full' if full else 'gathered'} | "
                        f"{measured!r} | "
                        f"{est.mlx_peak_gb!r} | {est.mlx_peak_gb / measured!r} | "
                        f"{est.parts['logits']!r} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
