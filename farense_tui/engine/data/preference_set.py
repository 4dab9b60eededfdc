"""Preference pairs tokenised as training reads them: each reply after the prompt through the
model's chat template, by mlx-lm's ChatDataset (the tokens and prompt offset an SFT chat example
of the same conversation gets), so the prompt is masked and only the reply is scored. mlx-lm is
imported when a split is loaded: engine/data stays importable without MLX.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from farense_tui.engine.data.jsonl import read_jsonl
from farense_tui.engine.data.preference_records import (
    check_preference,
    is_preference,
    prompt_messages,
)
from farense_tui.engine.errors import UserError


class Pair(NamedTuple):
    chosen: list[int]  # prompt + chosen reply, as the chat template writes them
    chosen_offset: int  # where the chosen reply starts (the prompt's tokens before it are masked)
    rejected: list[int]
    rejected_offset: int


def tokenize_pair(record: dict, chat) -> Pair:
    prompt = prompt_messages(record)
    sides = [
        chat.process(
            {
                "messages": [*prompt, {"role": "assistant", "content": record[key]}],
                **({"tools": record["tools"]} if record.get("tools") else {}),
            }
        )
        for key in ("chosen", "rejected")
    ]
    (chosen, c_off), (rejected, r_off) = sides
    return Pair(list(chosen), c_off, list(rejected), r_off)


def longer_side(record: dict, chat) -> tuple[list[int], int]:
    """(tokens, prompt offset) of the pair's longer reply: the data check's length of a pair."""
    pair = tokenize_pair(record, chat)
    return max(
        (pair.chosen, pair.chosen_offset),
        (pair.rejected, pair.rejected_offset),
        key=lambda s: len(s[0]),
    )


class PreferenceSet:
    """A split of pairs, indexable like mlx-lm's datasets; `reference` holds each pair's reference
    log-probabilities (chosen, rejected) once a DPO run has computed them ([N, 2] float32)."""

    def __init__(self, pairs: list[Pair]):
        self.pairs = pairs
        self.reference: np.ndarray | None = None

    def __getitem__(self, index: int) -> Pair:
        return self.pairs[index]

    def __len__(self) -> int:
        return len(self.pairs)

    def length(self, index: int) -> int:
        """The longer side's tokens: what a micro-batch's width is padded to."""
        pair = self.pairs[index]
        return max(len(pair.chosen), len(pair.rejected))


def load_preference_split(path: Path, tokenizer, rows: list[dict] | None = None) -> PreferenceSet:
    """One preference file as pairs; the first bad line stops it with its file and line."""
    rows = read_jsonl(path) if rows is None else rows
    if not rows:
        raise UserError(f"{path}: no examples")
    from mlx_lm.tuner.datasets import ChatDataset

    chat = ChatDataset([], tokenizer, mask_prompt=True)
    pairs = []
    for number, row in enumerate(rows, start=1):
        errors = (
            check_preference(row)
            if is_preference(row)
            else [
                "not a preference pair: expected 'chosen' and 'rejected' beside 'prompt' or "
                "'messages'"
            ]
        )
        if errors:
            raise UserError(
                f"{path}: pair {number}: {errors[0]} (`farense-tui data check` names its line)"
            )
        pairs.append(tokenize_pair(row, chat))
    return PreferenceSet(pairs)
