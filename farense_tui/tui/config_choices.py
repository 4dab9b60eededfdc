"""What the Config screen offers and how it reads what is typed: the model choices (with the demo
model until it is fetched) and paths relative to the farense home."""

from __future__ import annotations

from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.models import local as models

DEMO = "demo"


def home_path(text: str) -> Path:
    """A typed path; relative ones are relative to the farense home (where data/ and models/
    are)."""
    path = Path(text.strip() or "data").expanduser()
    return path if path.is_absolute() else paths.home() / path


def size_text(size: int) -> str:
    mb = size / 1e6
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


def model_options() -> list[tuple[str, str]]:
    found = models.list_models()
    options = [(f"{m.name}  ({m.quantization}, {size_text(m.size_bytes)})", m.name) for m in found]
    if not any(m.name == models.DEMO_MODEL for m in found):
        options.append((f"{models.DEMO_MODEL}  (demo: fetched on Start, ~93 MB)", DEMO))
    return options
