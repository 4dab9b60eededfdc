"""Untrusted text shown literally: run and profile names, dataset lines, engine messages and model
output may hold terminal escape sequences; on a terminal they must not move the cursor, recolour
or retitle it, so control characters are written as Python would spell them (`\\x1b`)."""

from __future__ import annotations

import re

# C0 controls except newline and tab, DEL, and the C1 controls (0x9b is a one-byte CSI).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_control(char: str) -> str:
    """`\\x1b` for ESC, `\\r` for carriage return: how Python would spell it in a string."""
    return repr(char)[1:-1]


def terminal_safe(text: str) -> str:
    """`text` with every control character but newline and tab made visible."""
    return CONTROL.sub(lambda m: visible_control(m.group()), text)
