"""Reading a JSONL data file for the engine: stops at the first bad line, naming the file and line.

No MLX, so the evaluation's front ends can read a split too; `farense-tui data check`
(check.py) lists every problem of a folder before a run starts.
"""

from __future__ import annotations

import json
from pathlib import Path

from farense_tui.engine.errors import UserError


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
                raise UserError(
                    f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})"
                ) from None
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{path}:{number}: invalid JSON: {exc.msg} (column {exc.colno})"
                ) from None
            if not isinstance(row, dict):
                raise UserError(
                    f"{path}:{number}: expected a JSON object, found {type(row).__name__}"
                )
            rows.append(row)
    return rows
