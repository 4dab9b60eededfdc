"""Benchmark: what `serve`'s adapter check adds to a server start, and the whole start.

Builds a LoRA adapter on MODEL (8 layers, rank 8, B random with a fixed seed: a trained one costs
the same), then measures (1) `openai_server.adapter_check` in process on the loaded model, and the
two-pass check it replaced, (2) the time from starting the server process until it lists its model
(load + check + listen).

  flock /tmp/farense-bench.lock python bench/serve_check.py [--model models/smollm2-135m-instruct]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mlx.core as mx  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402
from mlx_lm.tuner.utils import linear_to_lora_layers  # noqa: E402
from mlx_lm.utils import load  # noqa: E402

from farense_tui.engine.chat.openai_server import adapter_check  # noqa: E402
from farense_tui.engine.chat.server import AdapterServer, free_port  # noqa: E402
from farense_tui.engine.chat.service import adapter_off  # noqa: E402
from farense_tui.engine.export.compare import probe, prompt_tokens  # noqa: E402
from farense_tui.engine.export.samples import check_messages  # noqa: E402


def write_adapter(model_dir: str, folder: Path) -> None:
    model, _ = load(model_dir)
    lora = {"rank": 8, "scale": 20.0, "dropout": 0.0}
    model.freeze()
    linear_to_lora_layers(model, 8, lora)
    mx.random.seed(0)
    weights = {
        k: (mx.random.normal(v.shape) * 0.01 if k.endswith("lora_b") else v)
        for k, v in tree_flatten(model.trainable_parameters())
    }
    mx.save_safetensors(str(folder / "adapters.safetensors"), weights)
    (folder / "adapter_config.json").write_text(
        json.dumps({"fine_tune_type": "lora", "num_layers": 8, "lora_parameters": lora})
    )


def two_pass_check(provider, messages: list[dict]) -> float:
    """The check as it was until the logits-only one, timed beside it: probe() runs the prompt for
    the logits, then again to generate one token, with and without the adapter."""
    tokens = prompt_tokens(provider.tokenizer, messages)
    adapted = probe(provider.model, provider.tokenizer, tokens, max_tokens=1)
    with adapter_off(provider.model):
        base = probe(provider.model, provider.tokenizer, tokens, max_tokens=1)
    return float(mx.abs(adapted.logits - base.logits).max().item())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "smollm2-135m-instruct"))
    args = parser.parse_args()
    messages = check_messages(REPO / "data")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_adapter(args.model, folder)
        model, tokenizer = load(args.model, adapter_path=str(folder))
        provider = SimpleNamespace(load_default=lambda: None, model=model, tokenizer=tokenizer)
        adapter_check(provider, messages)  # warm-up
        t = time.perf_counter()
        delta = adapter_check(provider, messages)
        check_s = time.perf_counter() - t
        t = time.perf_counter()
        two_pass_delta = two_pass_check(provider, messages)
        two_pass_s = time.perf_counter() - t
        server = AdapterServer(
            model=args.model,
            adapter=folder,
            port=free_port(),
            log=folder / "serve.log",
            name="bench:adapter",
            check_messages=messages,
        )
        t = time.perf_counter()
        server.start(timeout=600)
        start_s = time.perf_counter() - t
        server.stop()
        print(
            f"adapter check in process: {check_s:.4f} s (max |Δlogit| {delta:.4g}, "
            f"{len(messages)} messages); the two-pass check it replaced: {two_pass_s:.4f} s "
            f"(max |Δlogit| {two_pass_delta:.4g}); server start until it lists its model: "
            f"{start_s:.3f} s"
        )
        print(server.adapter_check())


if __name__ == "__main__":
    main()
