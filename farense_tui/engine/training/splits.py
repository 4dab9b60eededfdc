"""Load a run's train and valid splits into mlx-lm datasets (its formats, chat template, masking).

Reading stops at the first bad line with a message naming the file and line; `farense-tui data
check` (data/check.py) lists every problem before a run starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

from mlx_lm.tuner.datasets import CacheDataset, create_dataset

from farense_tui.engine.data.masking import masks_prompt
from farense_tui.engine.data.records import detect_format
from farense_tui.engine.errors import UserError


class Splits(NamedTuple):
    train: CacheDataset
    valid: CacheDataset
    formats: dict[str, str | None]  # split name -> its format, as mlx-lm decides it


def load_splits(folder: Path, tokenizer, mask_prompt: bool) -> Splits:
    """The train and valid splits as mlx-lm datasets; prompt masking for chat and completions only."""
    splits, formats = [], {}
    for name in ("train", "valid"):
        rows = read_jsonl(folder / f"{name}.jsonl")
        if not rows:
            raise UserError(f"{folder / f'{name}.jsonl'}: no examples")
        formats[name] = detect_format(rows[0])
        mask = masks_prompt(formats[name], mask_prompt)
        splits.append(CacheDataset(create_dataset(rows, tokenizer, SimpleNamespace(mask_prompt=mask))))
    return Splits(splits[0], splits[1], formats)


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise UserError(f"{path}: file not found")
    rows = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UserError(f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: expected a JSON object, found {type(row).__name__}")
            rows.append(row)
    return rows
