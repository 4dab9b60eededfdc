"""A prompt to try a finished run with, taken from its own validation data.

The closing hint of `farense-tui train` shows it, so a run on SQL text suggests an SQL prompt,
not a question about the demo data set.
"""

from __future__ import annotations

import json
from pathlib import Path

from farense_tui.engine.data.records import detect_format

MAX_CHARS = 60


def first_prompt(data: Path, max_chars: int = MAX_CHARS) -> str | None:
    """The first validation example's prompt (the user's first message for chat data, the first
    line for text data), on one line and cut at a word to `max_chars`; None when there is none."""
    record = _first_record(Path(data) / "valid.jsonl")
    fmt = detect_format(record) if record else None
    if fmt == "completions":
        prompt = record["prompt"]
    elif fmt == "chat":
        prompt = next(
            (
                m.get("content")
                for m in record["messages"]
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            None,
        )
    elif fmt == "text":
        prompt = record["text"].strip().split("\n", 1)[0]
    else:
        return None
    return shorten(prompt, max_chars) if isinstance(prompt, str) and prompt.strip() else None


def shorten(text: str, max_chars: int) -> str:
    """One line of at most `max_chars` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0] or text[: max_chars - 1]
    return cut.rstrip(" ,;:") + "…"


def _first_record(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    record = json.loads(line)
                    return record if isinstance(record, dict) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # no hint rather than a traceback after a finished run
    return None
