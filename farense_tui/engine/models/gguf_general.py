"""The `general.*` keys of the GGUF a model folder was converted from, kept beside its weights.

A model folder (config.json + safetensors) has no place for the source file's name, licence,
organization, source URLs…; the GGUF export would otherwise write a file that has lost them.
They are saved at conversion as `gguf_general.json`, each value with its GGUF type (as MLX
reads it: a string, a list of strings, or an array of one dtype), and written back unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlx.core as mx

GENERAL_FILE = "gguf_general.json"
# What describes one file's tensors and layout, not the model: the export writes its own.
ENCODING_KEYS = ("general.file_type", "general.alignment")


def save_general(meta: dict, source: Path, out_dir: Path) -> None:
    keys = {}
    for key in sorted(k for k in meta if k.startswith("general.")):
        value = meta[key]
        if isinstance(value, str):
            keys[key] = {"type": "string", "value": value}
        elif isinstance(value, list):
            keys[key] = {"type": "string_array", "value": [str(v) for v in value]}
        else:
            # tolist(): a scalar for a 0-d array, a list for a GGUF array of numbers.
            keys[key] = {
                "type": str(value.dtype).removeprefix("mlx.core."),
                "value": value.tolist(),
            }
    record = {"source": Path(source).name, "keys": keys}
    (out_dir / GENERAL_FILE).write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def load_general(model_dir: Path) -> dict:
    """The saved keys as MLX GGUF metadata values (same types), without the encoding keys; {} if
    none."""
    path = Path(model_dir) / GENERAL_FILE
    if not path.is_file():
        return {}
    metadata = {}
    for key, item in json.loads(path.read_text(encoding="utf-8"))["keys"].items():
        if key in ENCODING_KEYS:
            continue
        kind, value = item["type"], item["value"]
        if kind in ("string", "string_array"):
            metadata[key] = value
        else:
            metadata[key] = mx.array(value, dtype=getattr(mx, kind))
    return metadata


def copy_general(model_dir: Path, out_dir: Path) -> None:
    """A model derived from `model_dir` (a fuse) keeps its source's keys for a later GGUF export."""
    path = Path(model_dir) / GENERAL_FILE
    if path.is_file():
        shutil.copy2(path, Path(out_dir) / GENERAL_FILE)
