"""mlx-lm's OpenAI-compatible server, with the few answers a client of one run's adapter needs.

Run as `python -m farense_tui.engine.chat.openai_server --served-name NAME --check-messages JSON
[mlx_lm server arguments]`. mlx-lm still parses its arguments, loads the model and generates; this
only overrides what it gets wrong for us: /v1/models lists the one served model (mlx-lm scans the
Hugging Face cache, which raises CacheNotFound when there is none, and lists the base path, whose
name is answered without the adapter), other model names get a 404 instead of a Hub look-up,
`messages: []` a 400, and a stream cut by shutdown ends with a finish reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
import time
from importlib.metadata import version

import mlx.core as mx
from mlx_lm import server as mlx_server

# mlx-lm 0.31.3 resolves the "default_model" alias before looking up --adapter-path, so its server
# answers without the adapter (ml-explore/mlx-lm #1248/#1745, fixed by #1249 in 0.32.0).
IGNORES_ADAPTER_PATH = {"0.31.3"}
RELIES_ON = (
    (0, 32),
    (0, 33),
)  # APIHandler.handle_completion, ResponseGenerator.generate, main()'s `run`
DRAIN_SECONDS = 5.0  # how long a shutdown waits for cut streams to send their last chunk


def version_refusal(mlx_lm_version: str) -> str | None:
    """Why this mlx-lm cannot serve an adapter for us, or None."""
    if mlx_lm_version in IGNORES_ADAPTER_PATH:
        return (
            f"mlx-lm {mlx_lm_version}'s server ignores --adapter-path (mlx-lm issue 1248); "
            f"install mlx-lm>=0.32,<0.33"
        )
    parts = tuple(int(p) for p in mlx_lm_version.split(".")[:2] if p.isdigit())
    if not RELIES_ON[0] <= parts < RELIES_ON[1]:
        return (
            f"mlx-lm {mlx_lm_version} is not supported by `serve` (it relies on 0.32's "
            f"server); install mlx-lm>=0.32,<0.33"
        )
    return None


def error_body(message: str, code: str, param: str | None = None) -> bytes:
    return json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }
    ).encode()


class Generator(mlx_server.ResponseGenerator):
    """mlx-lm's generator, plus the served name and the shutdown state the handlers share."""

    def __init__(self, model_provider, prompt_cache, served_name: str):
        super().__init__(model_provider, prompt_cache)
        self.served_name = served_name
        self.closing = threading.Event()
        self.active = 0
        self.lock = threading.Lock()

    def generate(self, request, generation_args, progress_callback=None):
        ctx, responses = super().generate(request, generation_args, progress_callback)
        return ctx, self._until_closing(ctx, responses)

    def _until_closing(self, ctx, responses):
        # mlx-lm's stream just breaks when the process ends; a client must see why it ended
        for response in responses:
            if self.closing.is_set() and response.finish_reason is None:
                ctx.stop()
                yield dataclasses.replace(response, finish_reason="length")
                return
            yield response


class Handler(mlx_server.APIHandler):
    def _refuse(self, status: int, message: str, code: str, param: str | None = None) -> None:
        self._set_completion_headers(status)
        self.end_headers()
        self.wfile.write(error_body(message, code, param))

    def _model_entry(self) -> dict:
        return {
            "id": self.response_generator.served_name,
            "object": "model",
            "created": self.created,
            "owned_by": "farense-tui",
        }

    def handle_models_request(self):
        # mlx-lm lists the Hugging Face cache (CacheNotFound without one) and the base model's path
        name = self.path.removeprefix("/v1/models").strip("/")
        if name and name != self.response_generator.served_name:
            return self._refuse(
                404,
                f"The model '{name}' does not exist; this server serves "
                f"'{self.response_generator.served_name}'",
                "model_not_found",
                "model",
            )
        body = self._model_entry() if name else {"object": "list", "data": [self._model_entry()]}
        self._set_completion_headers(200)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def handle_completion(self, request, stop_words):
        generator = self.response_generator
        asked = self.body.get("model")
        # mlx-lm loads any other name (from the Hub if need be) and answers it without the adapter
        if asked is not None and asked != generator.served_name:
            return self._refuse(
                404,
                f"The model '{asked}' does not exist; this server serves '{generator.served_name}'",
                "model_not_found",
                "model",
            )
        if self.adapter is not None or self.requested_draft_model != "default_model":
            return self._refuse(
                400,
                "this server serves one adapter: 'adapters' and 'draft_model' "
                "cannot be chosen per request",
                "unsupported_parameter",
            )
        # mlx-lm fails on the empty chat template and answers 404
        if request.request_type == "chat" and not request.messages:
            return self._refuse(
                400, "'messages' must be a non-empty list of messages", "invalid_value", "messages"
            )
        if generator.closing.is_set():
            return self._refuse(503, "the server is shutting down", "shutting_down")
        self.requested_model = "default_model"
        with generator.lock:
            generator.active += 1
        try:
            super().handle_completion(request, stop_words)
        finally:
            with generator.lock:
                generator.active -= 1


def adapter_check(provider, messages: list[dict]) -> float:
    """Largest |Δlogit| between the served model with and without its adapter, on `messages`.

    One forward pass each way: the logits are all the check compares (a generated token adds a
    second pass per side and nothing the logits do not already show)."""
    from farense_tui.engine.chat.service import adapter_off
    from farense_tui.engine.export.compare import last_logits, prompt_tokens

    provider.load_default()
    tokens = prompt_tokens(provider.tokenizer, messages)
    adapted = last_logits(provider.model, tokens)
    with adapter_off(provider.model):
        base = last_logits(provider.model, tokens)
    return float(mx.abs(adapted - base).max().item())


def serve(host: str, port: int, provider, served_name: str, check_messages: list[dict]) -> int:
    if (
        provider.cli_args.adapter_path is None
    ):  # a full fine-tune's model folder: no adapter to check
        print("adapter check: none, a full fine-tune's model folder served as it is", flush=True)
        return _serve(host, port, provider, served_name)
    delta = adapter_check(provider, check_messages)
    question = check_messages[-1]["content"][:60]
    if not delta > 0:
        print(
            f"adapter check failed: the adapter does not change the model's logits on {question!r} "
            "(max |Δlogit| 0): its LoRA B matrices are zero or it was not applied; refusing to "
            "serve it",
            flush=True,
        )
        return 3
    print(
        f"adapter check: the adapter changes the logits on {question!r} (max |Δlogit| {delta:.4g})",
        flush=True,
    )
    return _serve(host, port, provider, served_name)


def _serve(host: str, port: int, provider, served_name: str) -> int:
    generator = Generator(
        provider, mlx_server.LRUPromptCache(provider.cli_args.prompt_cache_size), served_name
    )
    # mlx-lm's run() does not pass its handler_class on, so the HTTP server is built here
    httpd = mlx_server.ThreadingHTTPServer(
        (host, port), lambda *args, **kwargs: Handler(generator, *args, **kwargs)
    )
    signal.signal(signal.SIGTERM, _interrupt)
    logging.info(f"serving {served_name} at {host} on port {port}")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    generator.closing.set()
    deadline = time.monotonic() + DRAIN_SECONDS
    while generator.active and time.monotonic() < deadline:
        time.sleep(0.05)
    httpd.server_close()
    generator.stop_and_join()
    return 0


def _interrupt(signum, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not cut the drain short
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--served-name", required=True)
    parser.add_argument("--check-messages", type=json.loads, required=True)
    ours, theirs = parser.parse_known_args(argv)
    refusal = version_refusal(version("mlx-lm"))
    if refusal:
        print(refusal, flush=True)
        return 2
    code = 0

    def run(host, port, provider):
        nonlocal code
        code = serve(host, port, provider, ours.served_name, ours.check_messages)

    # mlx-lm's main() parses its own arguments and calls the module's `run`; ours serves instead
    mlx_server.run = run
    sys.argv = [sys.argv[0], *theirs]
    mlx_server.main()
    return code


if __name__ == "__main__":
    sys.exit(main())
