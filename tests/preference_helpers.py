"""Preference pairs for the tiny model: each fact's answer chosen, a plausible wrong one
rejected."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny_model import FACTS

WRONG = [
    "Em 1950.",
    "No Estádio da Luz, em Lisboa.",
    "Verde e branco.",
    "Um guarda-redes brasileiro.",
    "O 2.º lugar em 1990-91.",
    "Os Dragões do Sul.",
]


def pair(i: int, question_suffix: str = "") -> dict:
    q, a = FACTS[i % len(FACTS)]
    return {"prompt": f"{q}{question_suffix}", "chosen": a, "rejected": WRONG[i % len(WRONG)]}


def write_preference_data(folder: Path, n_train: int = 24, n_valid: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train = [pair(i, f" ({i})") for i in range(n_train)]
    valid = [pair(i) for i in range(n_valid)]
    for name, rows in (("train", train), ("valid", valid)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    return folder
