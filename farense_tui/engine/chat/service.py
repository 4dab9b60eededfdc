"""Talk to a base model or a run's adapter: streamed replies through mlx-lm's stream_generate.

`ChatService` owns the model on one long-lived MLX thread (MLX rules: build a model in the thread
that uses it, one thread per model) and reports through a callback, so the TUI can post messages
from it and the CLI can print. Base-vs-adapter answers come from one loaded model by swapping each
adapter layer for the layer it wraps, so a side-by-side view costs no second copy of the weights.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import mlx.core as mx
from mlx.utils import tree_unflatten
from mlx_lm import stream_generate
from mlx_lm.sample_utils import make_sampler
from mlx_lm.tuner.dora import DoRAEmbedding, DoRALinear
from mlx_lm.tuner.lora import LoRAEmbedding, LoRALinear, LoRASwitchLinear
from mlx_lm.tuner.utils import load_adapters

from farense_tui.engine.data.system_message import training_system_message
from farense_tui.engine.errors import UserError
from farense_tui.engine.models.loading import load_base
from farense_tui.engine.runs.run_folder import RunFolder, is_model_folder

# mlx-lm's adapter layers (its tuner's LoRA and DoRA), each wrapping the base layer it adapts.
ADAPTER_LAYERS = (LoRALinear, LoRASwitchLinear, LoRAEmbedding, DoRALinear, DoRAEmbedding)


@dataclass
class ChatTarget:
    """What to talk to: a model, optionally with an adapter folder, at a precision."""

    model: str
    adapter: Path | None
    precision: str
    label: str
    system: str | None = None  # the system message the run trained with, sent by default


def target_for_run(run_dir: Path, which: str = "best", base: bool = False) -> ChatTarget:
    run = RunFolder(run_dir)
    cfg = run.load_config()
    system = training_system_message(Path(cfg.data))
    if base:
        return ChatTarget(cfg.model, None, cfg.profile.base_precision, "base", system)
    folder = run.adapter(which)
    precision = (
        cfg.profile.train_precision
    )  # a full fine-tune's checkpoints hold weights of a float base
    if is_model_folder(folder):  # a full fine-tune's best/final: the model itself
        return ChatTarget(str(folder), None, precision, f"{run_dir.name}:{which}", system)
    return ChatTarget(cfg.model, folder, precision, f"{run_dir.name}:{which}", system)


def load_target(target: ChatTarget):
    model, tokenizer = load_base(target.model, target.precision)
    if target.adapter is not None:
        load_adapters(model, str(target.adapter))
        mx.eval(model.parameters())
    model.eval()
    return model, tokenizer


@contextmanager
def adapter_off(model):
    """Answer as the base model: each adapter layer swapped for the base layer it wraps, then back.

    A zero LoRA scale would do for LoRA, not for DoRA, whose learned magnitudes rescale the
    output even with the low-rank part at zero."""
    adapted = [(name, m) for name, m in model.named_modules() if isinstance(m, ADAPTER_LAYERS)]
    if (
        not adapted
    ):  # a full fine-tune: its base weights are gone, answering "as the base" would be a lie
        raise UserError(
            "this model has no adapter layers to switch off (a full fine-tune): "
            "load its base model to compare with it"
        )
    model.update_modules(tree_unflatten([(name, _wrapped(m)) for name, m in adapted]))
    try:
        yield
    finally:
        model.update_modules(tree_unflatten(adapted))


def _wrapped(layer):
    return layer.embedding if isinstance(layer, (LoRAEmbedding, DoRAEmbedding)) else layer.linear


def stream_reply(
    model,
    tokenizer,
    messages: list[dict],
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 256,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator:
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    sampler = make_sampler(temp=temperature, top_p=top_p)
    for response in stream_generate(
        model, tokenizer, prompt, max_tokens=max_tokens, sampler=sampler
    ):
        yield response
        if should_stop():
            return


class ChatService:
    """A thread that owns one chat model; requests go in through a queue, events come out via
    `emit`.

    Events (dicts): loading, loaded {label}, token {side, text}, done {side, tokens, tps,
    finish_reason, stopped}, error {message}.
    """

    def __init__(self, emit: Callable[[dict], None]):
        self.emit = emit
        self._requests: queue.Queue = queue.Queue()
        self._stop_generation = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="farense-chat", daemon=False)
        self._thread.start()

    def load(self, target: ChatTarget) -> None:
        self._requests.put(("load", target))

    def ask(
        self, messages: list[dict], sides=("adapter",), temperature=0.0, top_p=1.0, max_tokens=256
    ) -> None:
        self._stop_generation.clear()
        self._requests.put(("ask", (messages, sides, temperature, top_p, max_tokens)))

    def stop_generation(self) -> None:
        self._stop_generation.set()

    def close(self, timeout: float = 10.0) -> None:
        self._stop_generation.set()
        self._requests.put(("quit", None))
        self._thread.join(timeout)

    def _loop(self) -> None:
        model = tokenizer = None
        try:
            while True:
                kind, payload = self._requests.get()
                if kind == "quit":
                    return
                try:
                    if kind == "load":
                        self.emit({"type": "loading", "label": payload.label})
                        model = tokenizer = None
                        model, tokenizer = load_target(payload)
                        self.emit(
                            {
                                "type": "loaded",
                                "label": payload.label,
                                "has_adapter": payload.adapter is not None,
                            }
                        )
                    elif kind == "ask":
                        if model is None:
                            raise UserError("no model loaded yet")
                        self._answer(model, tokenizer, *payload)
                except UserError as exc:
                    self.emit({"type": "error", "message": str(exc)})
                except Exception as exc:  # the chat must survive a failed load or generation
                    self.emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            mx.clear_streams()

    def _answer(self, model, tokenizer, messages, sides, temperature, top_p, max_tokens) -> None:
        for side in sides:
            if self._stop_generation.is_set():
                break
            ctx = adapter_off(model) if side == "base" else _nothing()
            tic, count, last = time.perf_counter(), 0, None
            with ctx:
                for last in stream_reply(
                    model,
                    tokenizer,
                    messages,
                    temperature,
                    top_p,
                    max_tokens,
                    self._stop_generation.is_set,
                ):
                    count += 1
                    self.emit({"type": "token", "side": side, "text": last.text})
            elapsed = max(time.perf_counter() - tic, 1e-9)
            self.emit(
                {
                    "type": "done",
                    "side": side,
                    "tokens": count,
                    "tps": round(count / elapsed, 1),
                    "finish_reason": getattr(last, "finish_reason", None),
                    "stopped": self._stop_generation.is_set(),
                }
            )


@contextmanager
def _nothing():
    yield
