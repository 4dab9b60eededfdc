"""A GGUF file converted into a model folder under models/ (the demo model's and the user's own).

The folder is built beside its final place under a hidden name and renamed at the end, so an
interrupted conversion never leaves a folder that looks like a model (list_models skips hidden
folders). The converter (numpy + mlx) is imported only when converting.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*", re.IGNORECASE)


def default_name(gguf: Path) -> str:
    """models/ name for a GGUF file: its stem in lower case, other characters as '-'."""
    return re.sub(r"[^a-z0-9._-]+", "-", Path(gguf).stem.lower()).strip("-._") or "model"


def import_gguf(
    gguf: Path,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    hub_id: str | None = None,
) -> Path:
    """Convert `gguf` into models/NAME (default: from the file name); refuses to overwrite.
    `hub_id`: the Hugging Face model it was made from, recorded in the folder's source.json."""
    from farense_tui.engine.models.source import hub_id_of

    gguf = Path(gguf).expanduser()
    if hub_id is not None and hub_id_of(hub_id) != hub_id:
        raise UserError(f"--hub-id {hub_id!r}: expected a Hugging Face model id, ORG/NAME")
    name = name or default_name(gguf)
    if not _NAME.fullmatch(name):
        raise UserError(
            f"--name {name!r}: expected letters, digits, '.', '-' and '_', "
            "starting with a letter or digit"
        )
    if not gguf.is_file():
        raise UserError(f"{gguf}: no such GGUF file")
    target = paths.models_dir() / name
    if target.exists():
        raise UserError(f"{target} already exists: choose another name with --name NAME")
    return convert_into(gguf, target, progress, hub_id)


def convert_into(
    gguf: Path,
    target: Path,
    progress: Callable[[str], None] | None = None,
    hub_id: str | None = None,
) -> Path:
    """Convert `gguf` to the model folder `target`, staged under a hidden name and renamed at the
    end."""
    from farense_tui.engine.models.gguf_import import convert_gguf

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}-", dir=target.parent) as tmp:
        staged = convert_gguf(gguf, Path(tmp) / target.name, progress, hub_id)
        try:
            staged.rename(target)
        except OSError:
            # Another process finished the same conversion first.
            if not (target / "config.json").is_file():
                raise
    return target
