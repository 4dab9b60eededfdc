"""Which data a profile's mask_prompt applies to, decided once for the data check, the cockpit, the
CLI and the trainer.

mask_prompt means "loss on the answer only": chat and completions data have a prompt to leave
out; text data has none, so it trains on all its tokens and the same profile serves every format.
"""

from __future__ import annotations

from collections.abc import Mapping

TEXT_NOTE = (
    "text format has no prompt to mask: training on all tokens "
    "(mask_prompt applies to chat and completions data)"
)


def masks_prompt(fmt: str | None, mask_prompt: bool) -> bool:
    """Whether data in format `fmt` is trained with its prompt masked under this mask_prompt."""
    return mask_prompt and fmt != "text"


def masking_note(formats: Mapping[str, str | None], mask_prompt: bool) -> str | None:
    """One sentence when mask_prompt is on and some split ({split: format}) is text, else None."""
    text = [name for name, fmt in formats.items() if fmt == "text"]
    if not mask_prompt or not text:
        return None
    return f"{', '.join(text)}: {TEXT_NOTE}"


def report_masking_note(report, mask_prompt: bool) -> str | None:
    """`masking_note` for a checked data set (a DataReport)."""
    return masking_note({name: split.format for name, split in report.splits.items()}, mask_prompt)
