"""The system message a run trained with, so chat and evaluation ask the way training taught.

No MLX. A data set usually carries one fixed system message on every example (the demo's does);
the one its train split uses most is the run's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from farense_tui.engine.data.jsonl import read_jsonl
from farense_tui.engine.errors import UserError

SYSTEM_MESSAGE_FILE = (
    "system_message.txt"  # in a fused export's folder: its run's training system message
)


def training_system_message(data: Path) -> str | None:
    """The system message the run's train split used most (None if its examples had none)."""
    try:
        rows = read_jsonl(data / "train.jsonl")
    except UserError:
        return None
    found = Counter(
        m["content"]
        for r in rows
        for m in (r.get("messages") or [])[:1]
        if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str)
    )
    return found.most_common(1)[0][0] if found else None


def model_system_message(model_dir: Path) -> str | None:
    """The system message a model folder carries (a fused export's), None for one without."""
    try:
        return (Path(model_dir) / SYSTEM_MESSAGE_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
