"""Fast float32 matmuls on Linux: Debian's OpenBLAS in place of the wheel's reference BLAS.

The Linux `mlx[cpu]` wheel links the reference BLAS, many times slower at float32 matmuls than
Debian's OpenBLAS (BENCHMARKS.md, "OpenBLAS on Linux"). The CLI loads OpenBLAS into its own process
before MLX is imported (its symbols then come first, as with LD_PRELOAD, without re-executing the
interpreter, which would add to the cockpit's start-up); the processes it starts get LD_PRELOAD.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

OPT_OUT = "FARENSE_BLAS"  # set to "reference" to keep the wheel's own BLAS
_CANDIDATES = [
    "/usr/lib/{arch}-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/{arch}-linux-gnu/openblas-openmp/libblas.so.3",
    "/usr/lib/{arch}-linux-gnu/openblas-serial/libblas.so.3",
]


def openblas_library() -> Path | None:
    """The Debian OpenBLAS that can stand in for libblas, if installed."""
    arch = platform.machine()
    for pattern in _CANDIDATES:
        path = Path(pattern.format(arch=arch))
        if path.exists():
            return path
    return None


def with_fast_blas(env: dict) -> dict:
    """A copy of `env` that preloads OpenBLAS (for engine processes), when on Linux and
    available."""
    lib = openblas_library() if sys.platform.startswith("linux") else None
    if lib is None or env.get(OPT_OUT) == "reference" or str(lib) in env.get("LD_PRELOAD", ""):
        return dict(env)
    return {**env, "LD_PRELOAD": " ".join(p for p in (str(lib), env.get("LD_PRELOAD", "")) if p)}


def load_fast_blas() -> None:
    """Load OpenBLAS with global symbols, so MLX imported afterwards uses it (Linux, when
    available)."""
    if (
        not sys.platform.startswith("linux")
        or os.environ.get(OPT_OUT) == "reference"
        or "mlx.core" in sys.modules
    ):
        return
    lib = openblas_library()
    if lib is not None:
        import ctypes

        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def blas_in_use() -> str:
    """Which BLAS this process has mapped: what `farense-tui profiles` and the Config screen
    show."""
    if sys.platform == "darwin":
        return "Accelerate (Metal for training)"
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    if "libopenblas" in maps:
        return "OpenBLAS (fast)"
    if "libblas" in maps or "mlx" in maps:
        hint = "" if openblas_library() else " — apt-get install libopenblas0-pthread"
        return f"reference BLAS (slow){hint}"
    return "not loaded yet"
