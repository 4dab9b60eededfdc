"""What the run trained on, as an export needs it: questions to check with (its system message is
data/system_message.py's)."""

from __future__ import annotations

import json
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


def check_conversations(data_dir: Path, limit: int = 5) -> list[list[dict]]:
    """Conversations up to their first answer, from the validation data, then test, then training:
    the questions exports are checked with."""
    found = []
    for split in ("valid", "test", "train"):
        for record in _records(data_dir, split, limit=50):
            if len(found) >= limit:
                return found
            messages = record.get("messages")
            if isinstance(messages, list):
                until = next(
                    (i for i, m in enumerate(messages) if m.get("role") == "assistant"),
                    len(messages),
                )
                if until and messages[:until] not in found:
                    found.append(messages[:until])
            elif isinstance(record.get("prompt"), str):
                found.append([{"role": "user", "content": record["prompt"]}])
    return found or [[{"role": "user", "content": "Quem foi Hassan Nader?"}]]


def check_messages(data_dir: Path) -> list[dict]:
    """The first of the check conversations."""
    return check_conversations(data_dir, limit=1)[0]
