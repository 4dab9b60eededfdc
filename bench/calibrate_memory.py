"""Calibrate farense_tui.engine.profiles.memory_estimate against measured MLX peaks.

Default mode: short real engine runs (runs.create_run + runs.start, the supervisor and worker
processes, 3 optimizer steps each) of the tiny test model and the demo model (float32 base, cpu
backend, as trained on this machine) at several batch x sequence sizes. The data is synthetic
long text, so every batch is padded exactly to the profile's max_seq_length. Each run's step
events carry mem_peak_gb (MLX peak since the model was loaded); the table compares it with
estimate_for(model, profile).mlx_peak_gb.

--sweep: in-process, measures the training step (models/loading.add_lora, mlx-lm default_loss,
nn.value_and_grad + mx.compile + AdamW, as training/steps.py CompiledSteps) on random llama shapes at two
depths, and fits the per-token element counts of memory_estimate (non-negative least squares).

    python bench/calibrate_memory.py                       # the table (~5-10 min on 2 cores)
    python bench/calibrate_memory.py --models tiny --batches 1,2 --seqs 64
    python bench/calibrate_memory.py --sweep               # refit the element counts (~3 min)

All of this is MLX's CPU backend on Linux; Metal peaks are not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from farense_tui.engine.profiles import memory_estimate as me  # noqa: E402

DEMO = REPO / "models" / "smollm2-135m-instruct"
WORDS = (
    "o Farense joga no Estádio de São Luís em Faro desde 1923 e as cores são preto e branco "
    "Hassan Nader marcou muitos golos na época de 1994 1995 quando o clube foi quinto"
).split()


# ---- synthetic data ----------------------------------------------------------------------------


def long_text_data(
    folder: Path, model_dir: Path, min_tokens: int, n_train: int = 8, n_valid: int = 4
) -> Path:
    """train/valid.jsonl of text rows each longer than `min_tokens` tokens of this model's
    tokenizer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    rng = random.Random(0)
    rows = []
    for _ in range(n_train + n_valid):
        words = []
        while True:
            words += rng.choices(WORDS, k=64)
            text = " ".join(words)
            if len(tok.encode(text)) > min_tokens + 8:
                break
        rows.append({"text": text})
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", rows[:n_train]), ("valid", rows[n_train:])):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
        )
    return folder


# ---- engine runs -----------------------------------------------------------------------------


def calibration_profile(batch: int, seq: int, lora_layers: int, grad_ckpt: bool, steps: int):
    from farense_tui.engine.profiles.profile import load_profile

    return load_profile("cpu").replace(
        name="cpu",
        batch_size=batch,
        grad_accumulation=1,
        max_seq_length=seq,
        iters=steps,
        warmup_steps=0,
        save_every=1000,
        eval_every=1000,
        val_batches=1,
        lora_layers=lora_layers,
        grad_checkpoint=grad_ckpt,
        memory_budget_gb=64.0,
        early_stop_patience=0,
    )


def run_one(model_dir: Path, data: Path, profile, timeout: float = 600) -> dict:
    from farense_tui.engine import runs
    from farense_tui.engine.runs.config import RunConfig
    from farense_tui.engine.runs.events import read_all

    cfg = RunConfig(profile=profile, model=str(model_dir), data=str(data))
    run_dir = runs.create_run(cfg)
    tic = time.monotonic()
    runs.start(run_dir)
    hwm = 0.0  # the worker's resident-memory high-water mark (VmHWM), polled while it lives
    while runs.is_alive(run_dir):
        if time.monotonic() - tic > timeout:
            raise TimeoutError(f"{run_dir} still running after {timeout} s")
        hwm = max(hwm, _vm_hwm_gb(run_dir / "engine.pid"))
        time.sleep(0.1)
    events = read_all(run_dir / "events.jsonl")
    steps = [e for e in events if e["type"] == "step"]
    if not steps:
        tail = (run_dir / "engine.log").read_text()[-2000:]
        raise RuntimeError(f"run {run_dir.name} gave no step events:\n{tail}")
    last = steps[-1]
    return {
        "measured_gb": max(e["mem_peak_gb"] for e in steps),
        "rss_gb": max(e["rss_gb"] for e in steps),
        "hwm_gb": hwm,
        "outside_mlx_gb": max(e["rss_gb"] - e["mem_active_gb"] - e["mem_cache_gb"] for e in steps),
        "step_time": last["step_time"],
        "steps": len(steps),
        "wall_s": round(time.monotonic() - tic, 1),
    }


def _vm_hwm_gb(pid_file: Path) -> float:
    try:
        status = Path(f"/proc/{int(pid_file.read_text())}/status").read_text()
    except (OSError, ValueError):
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) * 1024 / 1024**3 if line else 0.0


def calibrate(args) -> list[dict]:
    from farense_tui.engine.profiles.memory_estimate import estimate_for

    home = Path(tempfile.mkdtemp(prefix="farense-memcal-"))
    shutil.copytree(REPO / "profiles", home / "profiles")
    for sub in ("models", "runs", "data"):
        (home / sub).mkdir()
    os.environ["FARENSE_HOME"] = str(home)
    batches = [int(b) for b in args.batches.split(",")]
    seqs = [int(s) for s in args.seqs.split(",")]
    plan = []
    models = {}
    if "tiny" in args.models:
        from tests import tiny_model

        models["tiny"] = tiny_model.build(home / "models" / "tiny-llama")
        plan += [("tiny", b, s, -1, False) for b in batches for s in seqs]
        if not args.no_extra:
            plan += [("tiny", max(batches), s, -1, True) for s in (min(seqs), max(seqs))]
    if "demo" in args.models:
        if not (DEMO / "config.json").is_file():
            raise SystemExit(f"{DEMO} is missing: farense-tui models fetch-demo")
        models["demo"] = DEMO
        plan += [("demo", b, s, args.demo_lora_layers, False) for b in batches for s in seqs]
        if not args.no_extra:
            plan += [("demo", 2, 128, -1, False)]  # all 30 blocks: the per-layer term at depth
            plan += [
                ("demo", max(batches), s, args.demo_lora_layers, True)
                for s in (min(seqs), max(seqs))
            ]
            plan += [("demo", 2, 128, -1, True)]
    data = {
        name: long_text_data(home / "data" / name, path, max(seqs)) for name, path in models.items()
    }
    results = []
    for name, batch, seq, lora_layers, ckpt in plan:
        profile = calibration_profile(batch, seq, lora_layers, ckpt, args.steps)
        got = run_one(models[name], data[name], profile)
        est = estimate_for(models[name], profile)
        row = {
            "model": name,
            "batch": batch,
            "seq": seq,
            "lora_layers": est.info["lora_layers"],
            "grad_ckpt": ckpt,
            **got,
            "estimated_gb": est.mlx_peak_gb,
            "parts": est.parts,
        }
        row["error_pct"] = 100 * (row["estimated_gb"] - row["measured_gb"]) / row["measured_gb"]
        results.append(row)
        print(fmt_row(row), flush=True)
    shutil.rmtree(home, ignore_errors=True)
    return results


def fmt_row(r: dict) -> str:
    ck = "yes" if r["grad_ckpt"] else "no"
    total = r["estimated_gb"] + r["parts"]["runtime"]
    return (
        f"| {r['model']} | {r['lora_layers']} | {r['batch']} | {r['seq']} | {ck} | "
        f"{r['measured_gb'] * 1024:.1f} | {r['estimated_gb'] * 1024:.1f} | {r['error_pct']:+.1f}% "
        f"| "
        f"{r.get('hwm_gb', 0) * 1024:.0f} | {total * 1024:.0f} |"
    )


def report(results: list[dict], command: str) -> str:
    errs = [abs(r["error_pct"]) for r in results]
    head = (
        "| model | LoRA blocks | batch | seq | grad ckpt | MLX peak measured (MB) | MLX peak "
        "estimated (MB) "
        "| error | process peak RSS (MB) | estimated total (MB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [f"Command: `{command}`", "", head, *map(fmt_row, results), ""]
    lines.append(
        f"Mean absolute error {sum(errs) / len(errs):.1f}%, max {max(errs):.1f}% over {len(errs)} "
        f"runs."
    )
    for model in sorted({r["model"] for r in results}):
        sub = [abs(r["error_pct"]) for r in results if r["model"] == model]
        lines.append(
            f"- {model}: mean {sum(sub) / len(sub):.1f}%, max {max(sub):.1f}% ({len(sub)} runs)"
        )
    over = [r["hwm_gb"] - r["measured_gb"] for r in results if r.get("hwm_gb")]
    if over:
        lines.append(
            f"Process peak RSS (VmHWM, includes loading) minus MLX peak: {min(over):.2f} to "
            f"{max(over):.2f} GB "
            f"(the estimate's runtime part is {me.RUNTIME_GB} GB)."
        )
    return "\n".join(lines)


# ---- shape sweep -------------------------------------------------------------------------------


def sweep_specs(seed: int = 4, n_shapes: int = 24) -> list[dict]:
    rng = random.Random(seed)
    specs = []
    for i in range(n_shapes):
        h = rng.choice([128, 256, 512, 768])
        inter = int(h * rng.choice([1.0, 2.0, 2.6667, 3.5, 5.0])) // 32 * 32
        heads = rng.choice([2, 4, 8, 16])
        kv = rng.choice([1, heads, max(1, heads // 4)])
        vocab = rng.choice([512, 4096, 16384])
        batch, seq = rng.choice([(1, 64), (2, 64), (4, 64), (1, 128), (2, 128), (1, 256), (2, 256)])
        targets = rng.choice([None, None, None, ["q", "v"]])
        cfg = dict(
            hidden_size=h,
            intermediate_size=inter,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            vocab_size=vocab,
        )
        for depth in (2, 6):
            specs.append(dict(cfg=cfg, layers=depth, batch=batch, seq=seq, targets=targets, pair=i))
    return specs


def measure_step(cfg: dict, layers: int, batch: int, seq: int, targets=None) -> dict:
    """MLX peak of the second training step above the memory held before it (weights, LoRA,
    AdamW)."""
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from mlx_lm.tuner.trainer import default_loss

    from farense_tui.engine.models.loading import add_lora
    from farense_tui.engine.profiles.profile import Profile

    full = dict(
        model_type="llama",
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        num_hidden_layers=layers,
        **cfg,
    )
    model = llama.Model(llama.ModelArgs.from_dict(full))
    mx.eval(model.parameters())
    profile = Profile(lora_layers=-1, **({"lora_targets": targets} if targets else {}))
    add_lora(model, profile)
    n_lora = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.AdamW(learning_rate=1e-4)
    loss_and_grad = nn.value_and_grad(model, default_loss)
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def update(tokens, lengths):
        (loss, ntoks), grad = loss_and_grad(model, tokens, lengths)
        opt.update(model, grad)
        return loss, ntoks

    model.train()
    tokens = mx.random.randint(0, cfg["vocab_size"], (batch, seq)).astype(mx.int32)
    lengths = mx.array([[0, seq]] * batch)
    mx.eval(tokens, lengths)
    mx.eval(update(tokens, lengths), state)  # first step: compiles, creates the AdamW state
    mx.clear_cache()
    mx.reset_peak_memory()
    before = mx.get_active_memory()
    mx.eval(update(tokens, lengths), state)
    return {"extra": mx.get_peak_memory() - before, "lora_params": n_lora}


def sweep(args) -> None:
    import numpy as np

    rows = []
    for spec in sweep_specs():
        got = measure_step(spec["cfg"], spec["layers"], spec["batch"], spec["seq"], spec["targets"])
        rows.append({**spec, **got})
        print(json.dumps(rows[-1]), flush=True)
    pairs: dict[int, dict] = {}
    for r in rows:
        pairs.setdefault(r["pair"], {})[r["layers"]] = r
    slope_x, slope_y, once_x, once_y = [], [], [], []
    for p in pairs.values():
        a, b = p[2], p[6]
        shape = me.model_shape({**a["cfg"], "num_hidden_layers": 2})
        length = a["seq"] - 1
        tokens = a["batch"] * length
        # elements per token, after the LoRA gradients (float32, one per parameter)
        ya = (a["extra"] - 4 * a["lora_params"]) / tokens / 4
        yb = (b["extra"] - 4 * b["lora_params"]) / tokens / 4
        per_layer = (yb - ya) / 4
        targets = a["targets"] or list(me._TARGET_DIMS)
        # undo the modelled savings of untargeted inputs, so all rows fit the same counts
        saved_all = me._per_token(me.SAVED_PER_LAYER, shape, length)
        per_layer += saved_all - me._saved_per_layer(shape, targets, length)
        slope_x.append([shape.hidden, shape.kv_dim, shape.intermediate, shape.heads * length])
        slope_y.append(per_layer)
        once_x.append([shape.hidden, shape.intermediate, shape.heads * length, shape.vocab])
        once_y.append(ya - 2 * (yb - ya) / 4)
    fitted = {}
    for name, x, y, keys in (
        ("SAVED_PER_LAYER", slope_x, slope_y, ["hidden", "kv", "intermediate", "attention"]),
        (
            "WORKING_SET + LOGIT_COPIES",
            once_x,
            once_y,
            ["hidden", "intermediate", "attention", "vocab"],
        ),
    ):
        x, y = np.array(x, float), np.array(y, float)
        coef = _nnls(x / np.abs(y)[:, None], np.sign(y))
        err = 100 * (x @ coef - y) / y
        fitted[name] = dict(zip(keys, coef.round(2).tolist()))
        print(
            f"{name}: {fitted[name]}  fit error mean {np.abs(err).mean():.1f}% max "
            f"{np.abs(err).max():.1f}%"
        )
    print(
        "module constants:",
        {
            "SAVED_PER_LAYER": me.SAVED_PER_LAYER,
            "WORKING_SET": me.WORKING_SET,
            "LOGIT_COPIES": me.LOGIT_COPIES,
        },
    )


def _nnls(a, b):
    try:
        from scipy.optimize import nnls

        return nnls(a, b)[0]
    except ImportError:  # plain least squares, then clip: close enough when all counts are positive
        import numpy as np

        return np.clip(np.linalg.lstsq(a, b, rcond=None)[0], 0, None)


def ensure_fast_blas() -> None:
    """Re-run this script with OpenBLAS preloaded (as engine processes get it), once."""
    from farense_tui.engine.machine.blas import with_fast_blas

    env = with_fast_blas(dict(os.environ))
    if env.get("LD_PRELOAD") != os.environ.get("LD_PRELOAD") and not os.environ.get(
        "_MEMCAL_REEXEC"
    ):
        env["_MEMCAL_REEXEC"] = "1"
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)


def main() -> int:
    ensure_fast_blas()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,demo")
    parser.add_argument("--batches", default="1,2,4")
    parser.add_argument("--seqs", default="64,128,256")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--demo-lora-layers", type=int, default=8, help="as the cpu profile")
    parser.add_argument(
        "--no-extra",
        action="store_true",
        help="only the batch x seq grid (no grad checkpointing or all-blocks rows)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--sweep", action="store_true", help="fit the element counts on random shapes"
    )
    args = parser.parse_args()
    if args.sweep:
        sweep(args)
        return 0
    results = calibrate(args)
    command = "python bench/calibrate_memory.py " + " ".join(sys.argv[1:])
    print()
    print(report(results, command.strip()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
