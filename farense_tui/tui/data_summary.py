"""The data check in a few short lines: examples, format, lengths and truncation per split.

Built from the engine's DataReport fields (not its summary text) so the lines fit 80 columns and
hold no absolute paths.
"""

from __future__ import annotations

from farense_tui.engine.data.masking import report_masking_note
from farense_tui.engine.data.report import SPLITS, DataReport, SplitReport

MAX_PROBLEMS = 4


def split_line(split: SplitReport, max_seq_length: int | None) -> str:
    text = f"{split.name:<5}  {split.count} examples"
    if split.format:
        text += f", {split.format}"
    if split.valid_count != split.count:
        text += f" ({split.valid_count} valid)"
    if split.token_lengths:
        s = sorted(split.token_lengths)
        unit = "tokens" if split.length_unit == "tokens" else "chars"
        text += f" · {unit} {s[0]}–{s[-1]}, median {s[len(s) // 2]}"
        if max_seq_length and split.length_unit == "tokens":
            text += (
                f" · {split.truncated} truncated"
                if split.truncated
                else f" · none over {max_seq_length}"
            )
    return text


def summary_lines(report: DataReport, mask_prompt: bool = False) -> list[str]:
    lines = [
        split_line(report.splits[name], report.max_seq_length)
        for name in SPLITS
        if name in report.splits
    ]
    note = report_masking_note(report, mask_prompt)
    if note:
        lines.append(f"· {note}")
    if not report.tokenizer_name:
        lines.append("lengths in characters (no local tokenizer for this model yet)")
    problems = report.problems
    for p in problems[:MAX_PROBLEMS]:
        where = f"{p.file.name}:{p.line}" if p.line else p.file.name
        lines.append(f"✗ {where}: {p.message}")
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"✗ … and {len(problems) - MAX_PROBLEMS} more (farense-tui data check)")
    if report.ok:
        lines.append("✓ ready to train")
    return lines
