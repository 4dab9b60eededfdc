"""Load a run's train and valid splits into mlx-lm datasets (its formats, chat template, masking).

Reading stops at the first bad line with a message naming the file and line; `farense-tui data
check` (data/check.py) lists every problem before a run starts.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

from mlx_lm.tuner.datasets import CacheDataset, create_dataset

from farense_tui.engine.data.jsonl import read_jsonl
from farense_tui.engine.data.masking import masks_prompt
from farense_tui.engine.data.preference_set import PreferenceSet, load_preference_split
from farense_tui.engine.data.records import detect_format
from farense_tui.engine.errors import UserError


class Splits(NamedTuple):
    train: CacheDataset | PreferenceSet
    valid: CacheDataset | PreferenceSet
    formats: dict[str, str | None]  # split name -> its format, as mlx-lm decides it


def load_splits(folder: Path, tokenizer, mask_prompt: bool, objective: str = "sft") -> Splits:
    """The train and valid splits as mlx-lm datasets (prompt masking for chat and completions only),
    or as preference pairs for a preference objective (dpo, orpo)."""
    datasets, formats = [], {}
    for name in ("train", "valid"):
        path = folder / f"{name}.jsonl"
        rows = read_jsonl(path)
        formats[name] = detect_format(rows[0]) if rows else None
        pairs = formats[name] == "preference"
        if rows and pairs != (objective != "sft"):
            raise UserError(
                f"{path}:1: {formats[name]} data, but the objective is {objective}: "
                + (
                    "set objective=dpo or orpo to train on preference pairs"
                    if pairs
                    else f"{objective} trains on preference pairs {{prompt, chosen, rejected}}"
                )
            )
        datasets.append(
            load_preference_split(path, tokenizer, rows)
            if pairs
            else load_split(path, tokenizer, mask_prompt, rows)
        )
    return Splits(datasets[0], datasets[1], formats)


def load_split(
    path: Path, tokenizer, mask_prompt: bool, rows: list[dict] | None = None
) -> CacheDataset:
    """One split file (or its `rows`, already read) as an mlx-lm dataset, masked as training masks
    it."""
    rows = read_jsonl(path) if rows is None else rows
    if not rows:
        raise UserError(f"{path}: no examples")
    mask = masks_prompt(detect_format(rows[0]), mask_prompt)
    return CacheDataset(create_dataset(rows, tokenizer, SimpleNamespace(mask_prompt=mask)))
