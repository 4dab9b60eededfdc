"""Greedy answers to many prompts at once, through mlx-lm's BatchGenerator (continuous batching:
a finished row's place is taken by the next prompt), with the same answers as one-at-a-time
stream_generate: the same prompt tokens, greedy sampling, stop on the tokenizer's EOS ids or
max_tokens. Prompts go in shortest first so a batch pads little.
"""

from __future__ import annotations

from typing import Callable, Iterator

import mlx.core as mx
from mlx_lm.generate import BatchGenerator

from farense_tui.engine.chat.service import stream_reply


def prompt_tokens(tokenizer, messages: list[dict]) -> list[int]:
    """The tokens stream_reply asks with (the chat template's generation prompt)."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True)


def greedy_answers(
    model,
    tokenizer,
    prompts: list[list[int]],
    max_tokens: int,
    batch_size: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[int, str, int]]:
    """(prompt index, answer text, generated tokens) as each answer ends, in the order they end.

    The token count includes the EOS token that ended an answer, as stream_generate counts it.
    should_stop is asked after every generation step; when it says yes the generator stops there.
    """
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    gen = BatchGenerator(
        model,
        max_tokens=max_tokens,
        stop_tokens=[[t] for t in tokenizer.eos_token_ids],
        completion_batch_size=batch_size,
        prefill_batch_size=batch_size,
    )
    try:
        uids = gen.insert([prompts[i] for i in order], [max_tokens] * len(order))
        index = dict(zip(uids, order))
        tokens: dict[int, list[int]] = {uid: [] for uid in uids}
        while responses := gen.next_generated():
            for r in responses:
                tokens[r.uid].append(r.token)
                if r.finish_reason is not None:
                    kept = tokens.pop(r.uid)
                    yield (
                        index[r.uid],
                        _text(tokenizer, kept[:-1] if r.finish_reason == "stop" else kept),
                        len(kept),
                    )
            if should_stop():
                return
    finally:
        gen.close()
        mx.clear_cache()


def _text(tokenizer, tokens: list[int]) -> str:
    # stream_generate's streaming detokenizer, not tokenizer.decode: they differ on a cut-off UTF-8
    # character
    detokenizer = tokenizer.detokenizer
    for token in tokens:
        detokenizer.add_token(token)
    detokenizer.finalize()
    return detokenizer.text.strip()


def one_answer(model, tokenizer, messages: list[dict], max_tokens: int) -> tuple[str, int]:
    """One greedy answer through stream_generate, as the chat answers: what a batched answer must
    equal."""
    text, count = "", 0
    for response in stream_reply(
        model, tokenizer, messages, temperature=0.0, max_tokens=max_tokens
    ):
        text, count = text + response.text, count + 1
    return text.strip(), count
