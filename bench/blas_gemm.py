"""float32 matmul speed through MLX on the CPU, with the wheel's BLAS and with Debian's OpenBLAS.

Each measurement runs in a fresh process, because the BLAS is chosen when the process starts.

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
import time, mlx.core as mx
from farense_tui.engine.machine.blas import blas_in_use
n = 1024
a = mx.random.normal((n, n)); mx.eval(a @ a)
tic = time.perf_counter()
for _ in range(10):
    mx.eval(a @ a)
print(f"{blas_in_use()}: {10 * 2 * n**3 / (time.perf_counter() - tic) / 1e9:.1f} GFLOP/s")
"""


def main() -> int:
    plain = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    for env in (plain, with_fast_blas(plain)):
        out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1])
        print(out.stdout.strip() or out.stderr.strip()[-500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
