"""`serve`, tried with the real `openai` client: mlx-lm's server lists one model named for the run,
answers it with the adapter's greedy answer (not the base's), refuses other names (404) and empty
messages (400), ends a stream cut by shutdown with a finish reason, leaves no traceback in its log,
and refuses an adapter that changes nothing. One short training run, two server starts.

The adapter is trained (not random): a random one picks the tiny model's unused vocabulary rows,
which the two detokenizers spell differently, so texts could not be compared."""

from __future__ import annotations

import shutil
import threading

import mlx.core as mx
import openai
import pytest
from mlx_lm.utils import load

from farense_tui.engine.chat.openai_server import version_refusal
from farense_tui.engine.chat.server import HOST, AdapterServer, server_for_run
from farense_tui.engine.chat.service import adapter_off
from farense_tui.engine.errors import UserError
from farense_tui.engine.export.compare import probe, prompt_tokens
from tests.engine_helpers import start_run, tiny_config, wait_done

QUESTION = [{"role": "user", "content": "Quem foi Hassan Nader?"}]


def greedy(model, tokenizer, tokens: int = 12) -> str:
    return tokenizer.decode(
        probe(model, tokenizer, prompt_tokens(tokenizer, QUESTION), tokens).tokens
    ).removesuffix("<|im_end|>")


def test_serve_with_the_openai_client(tiny_model_dir, tiny_data):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data))
    assert wait_done(run_dir).status == "finished"
    model, tokenizer = load(str(tiny_model_dir), adapter_path=str(run_dir / "best"))
    expected = greedy(model, tokenizer)
    with adapter_off(model):
        base_answer = greedy(model, tokenizer)
    assert expected != base_answer

    server = server_for_run(run_dir).start(timeout=90)
    try:
        assert server.url.startswith(f"http://{HOST}:")
        assert server.curl_example().startswith(f"curl {server.url}/chat/completions")
        assert server.adapter_check().startswith("adapter check: the adapter changes the logits")
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == [f"{run_dir.name}:best"]

        reply = client.chat.completions.create(
            model=client.models.list().data[0].id, messages=QUESTION, temperature=0, max_tokens=12
        )
        assert reply.choices[0].message.content == expected

        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(
                model=str(tiny_model_dir), messages=QUESTION, max_tokens=4
            )
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("mlx-community/not-here")
        with pytest.raises(openai.BadRequestError, match="messages"):
            client.chat.completions.create(model=server.name, messages=[], max_tokens=4)

        chunks = list(
            client.chat.completions.create(
                model=server.name, messages=QUESTION, temperature=0, max_tokens=12, stream=True
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")

        # the end-of-turn token banned: the stream runs until the shutdown cuts it
        eos = tokenizer.eos_token_id
        stream = client.chat.completions.create(
            model=server.name,
            messages=QUESTION,
            max_tokens=1_000_000,
            stream=True,
            logit_bias={str(eos): -100},
        )
        first = next(iter(stream))
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        cut = [first, *stream]
        stopper.join()
    finally:
        code = server.stop()
    assert cut[-1].choices[0].finish_reason == "length" and len(cut) < 1_000_000
    assert code is not None and server.process.poll() is not None
    assert not server.answers()
    log = server.log.read_text()
    assert "Traceback" not in log and "CacheNotFound" not in log, log


def test_serve_refuses_an_adapter_that_changes_nothing(tiny_model_dir, tiny_data, tmp_path):
    run_dir = start_run(tiny_config(tiny_model_dir, tiny_data))
    assert wait_done(run_dir).status == "finished"
    zeroed = tmp_path / "zeroed"
    shutil.copytree(run_dir / "best", zeroed)
    weights = mx.load(str(zeroed / "adapters.safetensors"))
    assert any(k.endswith("lora_b") for k in weights)
    mx.save_safetensors(
        str(zeroed / "adapters.safetensors"),
        {k: mx.zeros_like(v) if k.endswith("lora_b") else v for k, v in weights.items()},
    )
    server = server_for_run(run_dir)
    server = AdapterServer(
        model=server.model,
        adapter=zeroed,
        port=server.port,
        log=tmp_path / "serve.log",
        name="zeroed",
        check_messages=QUESTION,
    )
    with pytest.raises(UserError, match="adapter check failed"):
        server.start(timeout=90)


def test_versions_whose_server_drops_the_adapter_are_refused():
    assert "ignores --adapter-path" in version_refusal("0.31.3")
    assert "not supported" in version_refusal("0.33.0")
    assert version_refusal("0.32.2") is None
