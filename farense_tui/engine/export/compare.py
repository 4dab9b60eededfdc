"""The checks an export runs on what it wrote: greedy tokens and last-position logits, side by
side."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
from mlx_lm import stream_generate
from mlx_lm.sample_utils import make_sampler

CHECK_TOKENS = 16
ANSWER_TOLERANCE = (
    1e-2  # relative logit difference; float16 rounding gives ~1e-3, a lost adapter ~1e-1
)


@dataclass(frozen=True)
class Probe:
    """What one model answers to the check prompt: its greedy tokens and the logits at the prompt's
    end."""

    tokens: list[int]
    logits: mx.array

    def against(self, other: "Probe", what: str) -> str:
        """One line: how many greedy tokens agree and the largest logit difference."""
        n = max(len(self.tokens), len(other.tokens))
        same = sum(a == b for a, b in zip(self.tokens, other.tokens))
        delta = mx.abs(self.logits - other.logits).max().item()
        return f"{what}: greedy {same}/{n} tokens agree, max |Δlogit| {delta:.4g}"

    def relative_delta(self, other: "Probe") -> float:
        """Largest logit difference over the largest logit: ~1e-3 from float16 weights, ~1 from a
        layout bug."""
        return (mx.abs(self.logits - other.logits).max() / mx.abs(other.logits).max()).item()


def prompt_tokens(tokenizer, messages: list[dict]) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True))
    return tokenizer.encode("\n".join(m["content"] for m in messages))


def last_logits(model, tokens: list[int]) -> mx.array:
    """The next-token logits after `tokens`: one forward pass, no generation."""
    return model(mx.array(tokens)[None])[0, -1].astype(mx.float32)


def probe(model, tokenizer, tokens: list[int], max_tokens: int = CHECK_TOKENS) -> Probe:
    logits = last_logits(model, tokens)
    out = [
        r.token
        for r in stream_generate(
            model, tokenizer, tokens, max_tokens=max_tokens, sampler=make_sampler(temp=0.0)
        )
    ]
    mx.eval(logits)
    return Probe(out, logits)


def probes(model, tokenizer, conversations: list[list[dict]]) -> list[Probe]:
    return [
        probe(model, tokenizer, prompt_tokens(tokenizer, messages)) for messages in conversations
    ]


def same_answers(after: list[Probe], before: list[Probe], what: str) -> tuple[bool, str]:
    """(whether `after` answers every check question as `before` does, one line saying how it came
    out)."""
    same = sum(a.tokens == b.tokens for a, b in zip(after, before))
    delta = max(mx.abs(a.logits - b.logits).max().item() for a, b in zip(after, before))
    relative = max(a.relative_delta(b) for a, b in zip(after, before))
    ok = same == len(before) and relative <= ANSWER_TOLERANCE
    return ok, (
        f"{what}: {same}/{len(before)} greedy answers identical ({CHECK_TOKENS} tokens each), "
        f"max |Δlogit| {delta:.4g} (relative {relative:.2g}, at most {ANSWER_TOLERANCE:g} passes)"
    )
