"""What machine we are on: RAM, chip, MLX device and BLAS, for profile choice and display."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass

GB = 1024**3


@dataclass(frozen=True)
class Hardware:
    ram_total_gb: float
    ram_available_gb: float
    swap_used_gb: float
    chip: str
    mlx_device: str
    has_gpu: bool
    blas: str

    def summary_lines(self) -> list[str]:
        return [
            f"RAM      {self.ram_total_gb:.1f} GB total, {self.ram_available_gb:.1f} GB available"
            + (f", {self.swap_used_gb:.1f} GB swap in use" if self.swap_used_gb >= 0.05 else ""),
            f"Chip     {self.chip}",
            f"MLX      {self.mlx_device}",
            f"BLAS     {self.blas}",
        ]


def _chip_name() -> str:
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
            )
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mlx_device() -> tuple[str, bool]:
    import mlx.core as mx

    gpu = mx.metal.is_available() or (hasattr(mx, "cuda") and mx.cuda.is_available())
    name = mx.device_info().get("device_name", "") if gpu else ""
    kind = "gpu" if gpu else "cpu"
    label = f"{kind} ({name})" if name else kind
    return f"{label}, mlx {mx.__version__}", gpu


def detect() -> Hardware:
    import psutil  # here, not at import: the cockpit imports this module before its first frame

    from farense_tui.engine.machine.blas import blas_in_use

    vm = psutil.virtual_memory()
    device, gpu = _mlx_device()
    return Hardware(
        ram_total_gb=vm.total / GB,
        ram_available_gb=vm.available / GB,
        swap_used_gb=psutil.swap_memory().used / GB,
        chip=_chip_name(),
        mlx_device=device,
        has_gpu=gpu,
        blas=blas_in_use(),
    )
