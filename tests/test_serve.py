"""`serve`: mlx-lm's server with a run's adapter answers a real request on loopback with the
adapter's greedy answer, and stops cleanly. One short training run, one server start, one request.

The adapter is trained (not random): a random one picks the tiny model's unused vocabulary rows,
which the two detokenizers spell differently, so texts could not be compared."""

from __future__ import annotations

import json
import urllib.request

from mlx_lm.utils import load

from farense_tui.engine.chat.server import HOST, server_for_run
from farense_tui.engine.export.compare import probe, prompt_tokens
from tests.engine_helpers import start_run, tiny_config, wait_done

QUESTION = [{"role": "user", "content": "Quem foi Hassan Nader?"}]


def ask(url: str, messages: list[dict], max_tokens: int) -> dict:
    body = json.dumps({"messages": messages, "temperature": 0, "max_tokens": max_tokens}).encode()
    request = urllib.request.Request(f"{url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_serve_answers_with_the_adapter_and_stops(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data))
    assert wait_done(run_dir).status == "finished"
    model, tokenizer = load(str(tiny_model_dir), adapter_path=str(run_dir / "best"))
    expected = tokenizer.decode(probe(model, tokenizer, prompt_tokens(tokenizer, QUESTION), 12).tokens)

    server = server_for_run(run_dir).start(timeout=90)
    try:
        assert server.url.startswith(f"http://{HOST}:")
        assert server.curl_example().startswith(f"curl {server.url}/chat/completions")
        reply = ask(server.url, QUESTION, 12)
    finally:
        code = server.stop()
    answer = reply["choices"][0]["message"]["content"]
    assert answer.strip() and answer == expected.removesuffix("<|im_end|>"), (answer, expected)
    assert code is not None and server.process.poll() is not None
    assert not server.answers()
