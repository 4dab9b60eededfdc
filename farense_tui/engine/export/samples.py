"""What the run trained on, as an export needs it: the system prompt and a question to check with."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


def _records(data_dir: Path, split: str, limit: int = 2000) -> list[dict]:
    path = Path(data_dir) / f"{split}.jsonl"
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if len(out) >= limit:
                    break
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # `data check` reports such lines; an export only samples
                if isinstance(record, dict):
                    out.append(record)
    except OSError:
        return []
    return out


def training_system_prompt(data_dir: Path) -> str | None:
    """The system message most training conversations carry (None when they carry none)."""
    prompts = Counter(
        m["content"] for r in _records(data_dir, "train") for m in r.get("messages", [])[:1]
        if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str)
    )
    return prompts.most_common(1)[0][0] if prompts else None


def check_messages(data_dir: Path) -> list[dict]:
    """A conversation up to its first answer, from the validation data (else training data):
    the question exports are checked with."""
    for split in ("valid", "train"):
        for record in _records(data_dir, split, limit=50):
            messages = record.get("messages")
            if isinstance(messages, list):
                until = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
                if until:
                    return messages[:until]
            if isinstance(record.get("prompt"), str):
                return [{"role": "user", "content": record["prompt"]}]
    return [{"role": "user", "content": "Quem foi Hassan Nader?"}]
