"""Profile settings given as KEY=VALUE lines (`train --set learning_rate=1e-4`), checked exactly as
a profile file's keys are, so a headless user need not write a TOML file for one change.

VALUE is read as a TOML value (numbers, true/false, quoted text, [lists]); a bare word is text
(`base_precision=float32`) and a bare comma list is a list (`lora_targets=q,v`), as a shell user
would type them.
"""

from __future__ import annotations

import sys

from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import FIELDS, coerce_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_setting(text: str) -> tuple[str, object]:
    """One KEY=VALUE line as (key, checked value); UserError names the line, the key and what it
    allows."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    source = f"--set {text}"
    if not sep or not key or not raw:
        raise UserError(f"{source}: expected KEY=VALUE, e.g. --set learning_rate=1e-4")
    if key == "name":
        raise UserError(
            f"{source}: a run's profile name is not a setting; use --profile to pick one"
        )
    return key, coerce_value(key, _value(key, raw), source)


def parse_settings(lines: list[str]) -> dict:
    """Several --set lines; the same key twice is refused rather than the last one silently
    winning."""
    settings: dict = {}
    for line in lines:
        key, value = parse_setting(line)
        if key in settings:
            raise UserError(
                f"--set {key} is given twice ({settings[key]!r} and {value!r}): keep one"
            )
        settings[key] = value
    return settings


def _value(key: str, raw: str):
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if key in FIELDS and "subset_of" in FIELDS[key].metadata:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw
