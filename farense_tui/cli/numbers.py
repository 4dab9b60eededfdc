"""Numbers on the command line, checked by argparse before anything starts: a bad one is a usage
error naming the option, what it allows and what was given (`--epochs 0` once started a 3-epoch
run)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number(
    kind: type, low: float, high: float, *, above_low: bool = False
) -> Callable[[str], float]:
    """An argparse `type` for a whole number (kind int) or a number (float) in [low, high]
    ((low, high] with above_low)."""
    noun = "a whole number" if kind is int else "a number"
    allowed = (
        f"{noun} {'over' if above_low else 'from'} {low} "
        f"{'and up to' if above_low else 'to'} {high}"
    )

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not math.isfinite(value) or value < low or value == low and above_low or value > high:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text}")
        return value

    return parse


def profile_number(name: str) -> Callable[[str], float]:
    """The range a profile field allows (profiles/profile.py), for an option that sets it."""
    from farense_tui.engine.profiles.profile import FIELDS

    meta = FIELDS[name].metadata
    kind = int if FIELDS[name].type in ("int", int) else float
    return number(kind, max(meta.get("min", 1), 1), meta.get("max", 10_000_000))
