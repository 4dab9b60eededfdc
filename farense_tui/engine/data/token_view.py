"""Examples as the model sees them in training: chat template applied, the tokens the loss is on.

Tokens and the prompt offset come from mlx-lm's own datasets (`create_dataset(...).process`, as
check.py and the trainer use them); the trained positions follow training/token_loss.py's mask.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace

from farense_tui.engine.data.masking import masks_prompt
from farense_tui.engine.data.records import detect_format


def processor(fmt: str | None, records: list[dict], tokenizer, mask_prompt: bool):
    """record -> (tokens, prompt offset), as training tokenises a file of `fmt`: mlx-lm's datasets;
    a preference pair as its longer side, prompt masked (its length is what a batch pads to)."""
    from mlx_lm.tuner.datasets import ChatDataset, create_dataset

    if fmt == "preference":
        from farense_tui.engine.data.preference_set import longer_side

        return partial(longer_side, chat=ChatDataset([], tokenizer, mask_prompt=True))
    return create_dataset(records, tokenizer, SimpleNamespace(mask_prompt=mask_prompt)).process


def trained_positions(n_tokens: int, offset: int, max_seq_length: int | None) -> range:
    """Token positions the loss is on: from the prompt offset up to the example's end, cut at
    max_seq_length (summed_token_loss's mask; position 0 is never a target: nothing predicts it).
    That mask, mlx-lm's, also takes one padding target after an example shorter than its batch
    (ml-explore/mlx-lm PR 1697); it is no token of the example, so it is not counted here."""
    end = min(n_tokens, max_seq_length) if max_seq_length else n_tokens
    return range(max(offset, 1), end)


def empty_mask_reason(n_tokens: int, offset: int, max_seq_length: int | None) -> str | None:
    """Why an example trains on no token at all; None when it trains on some."""
    if trained_positions(n_tokens, offset, max_seq_length):
        return None
    if n_tokens <= 1:
        return f"{n_tokens} token: nothing to predict"
    if offset >= n_tokens:
        return (
            f"nothing to train on: the chat template masks every token (the prompt part is "
            f"{offset} "
            f"tokens of {n_tokens}; mlx-lm gives a NaN loss on such a batch): use a template that "
            "renders the last assistant message after the generation prompt, or turn mask_prompt "
            "off"
        )
    return (
        f"nothing to train on: the prompt alone is {offset} tokens, so max_seq_length "
        f"{max_seq_length} "
        "cuts the whole answer away: raise max_seq_length or shorten the prompt"
    )


@dataclass
class ExampleTokens:
    """One example's tokens as runs of decoded text, each marked trained or not."""

    file: Path
    line: int
    runs: list[tuple[str, bool]]  # (text, trained) in order; the cut tokens are not in them
    tokens: int  # all of the example's tokens, before the cut
    trained: int
    cut: int  # tokens past max_seq_length, never seen

    @property
    def empty(self) -> bool:
        return self.trained == 0


def example_tokens(
    tokens: list[int], offset: int, tokenizer, max_seq_length: int | None, file: Path, line: int
) -> ExampleTokens:
    trained = trained_positions(len(tokens), offset, max_seq_length)
    seen = min(len(tokens), max_seq_length) if max_seq_length else len(tokens)
    runs: list[tuple[str, bool]] = []
    start = 0
    for stop, flag in ((trained.start, False), (seen, True)) if trained else ((seen, False),):
        if stop > start:
            runs.append((tokenizer.decode(tokens[start:stop]), flag))
            start = stop
    return ExampleTokens(file, line, runs, len(tokens), len(trained), len(tokens) - seen)


def _records(path: Path, count: int) -> list[tuple[int, dict]]:
    """The first `count` lines of `path` that are objects in a format mlx-lm reads; `data check`
    reports the others."""
    found = []
    try:
        data = path.read_bytes()
    except OSError:  # `data check` says why it cannot be read
        return []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(record, dict) and detect_format(record):
            found.append((number, record))
            if len(found) == count:
                break
    return found


def token_views(
    path: Path, tokenizer, mask_prompt: bool, max_seq_length: int | None, count: int = 3
) -> list[ExampleTokens]:
    """The first `count` examples of a .jsonl file (a data folder: its train.jsonl), as trained."""
    path = Path(path)
    file = path / "train.jsonl" if path.is_dir() else path
    if not file.is_file():
        return []
    records = _records(file, count)
    if not records:
        return []
    fmt = detect_format(records[0][1])
    process = processor(fmt, [r for _, r in records], tokenizer, masks_prompt(fmt, mask_prompt))
    views = []
    for number, record in records:
        if detect_format(record) != fmt:
            continue
        try:
            tokens, offset = process(record)
        except Exception:  # a template's own refusal: `data check` names it by line
            continue
        views.append(example_tokens(tokens, offset, tokenizer, max_seq_length, file, number))
    return views
