"""float32 matmul speed through MLX on the CPU: the wheel's BLAS, Debian's OpenBLAS preloaded
(`LD_PRELOAD`, as engine processes get it) and loaded by the process itself before MLX (as the
CLI and the cockpit do: `load_fast_blas`).

Each measurement runs in a fresh process, because the BLAS is chosen before MLX is imported.

    python bench/blas_gemm.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from farense_tui.engine.machine.blas import with_fast_blas  # noqa: E402

PROBE = """
import os, time
from farense_tui.engine.machine.blas import blas_in_use, load_fast_blas
if os.environ.get("LOAD_IN_PROCESS"):
    load_fast_blas()
import mlx.core as mx
n = 1024
a = mx.random.normal((n, n)); mx.eval(a @ a)
tic = time.perf_counter()
for _ in range(10):
    mx.eval(a @ a)
print(f"{blas_in_use()}: {10 * 2 * n**3 / (time.perf_counter() - tic) / 1e9:.1f} GFLOP/s")
"""


def main() -> int:
    plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    for how, env in (
        ("wheel", plain),
        ("LD_PRELOAD", with_fast_blas(plain)),
        ("loaded in process", {**plain, "LOAD_IN_PROCESS": "1"}),
    ):
        out = subprocess.run(
            [sys.executable, "-c", PROBE],
            env=env,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        print(f"{how}: " + (out.stdout.strip() or out.stderr.strip()[-500:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
