"""Load a run's train and valid splits into mlx-lm datasets (its formats, chat template, masking).

Reading stops at the first bad line with a message naming the file and line; `farense-tui data
check` (data/check.py) lists every problem before a run starts.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mlx_lm.tuner.datasets import CacheDataset, create_dataset

from farense_tui.engine.data.jsonl import read_jsonl
from farense_tui.engine.errors import UserError


def load_splits(folder: Path, tokenizer, mask_prompt: bool) -> tuple[CacheDataset, CacheDataset]:
    """(train, valid) as mlx-lm datasets; prompt masking for chat and completions data only."""
    return load_split(folder / "train.jsonl", tokenizer, mask_prompt), load_split(folder / "valid.jsonl", tokenizer, mask_prompt)


def load_split(path: Path, tokenizer, mask_prompt: bool, rows: list[dict] | None = None) -> CacheDataset:
    """One split file (or its `rows`, already read) as an mlx-lm dataset, masked as training masks it."""
    rows = read_jsonl(path) if rows is None else rows
    if not rows:
        raise UserError(f"{path}: no examples")
    mask = mask_prompt and "text" not in rows[0]
    return CacheDataset(create_dataset(rows, tokenizer, SimpleNamespace(mask_prompt=mask)))
