"""Memory as the run sees it: MLX active/peak/cache, process RSS, system RAM and swap.

Written because mlx-lm reports only the peak; the budget guard and the Monitor's memory chart
need all of these each step.
"""

from __future__ import annotations

import mlx.core as mx
import psutil

GB = 1024**3
NEAR_BUDGET = 0.9
SWAP_GROWTH_GB = 0.25


def _wire(budget_gb: float) -> None:
    """Keep up to the budget wired on Metal (as mlx-lm's train does), so the model is not paged
    out."""
    if not mx.metal.is_available():
        return
    recommended = mx.device_info().get("max_recommended_working_set_size", 0)
    try:
        mx.set_wired_limit(int(min(budget_gb * GB, recommended or budget_gb * GB)))
    except (RuntimeError, ValueError):
        pass  # before macOS 15 there is no wired limit to set; the memory limit still acts


def fmt_gb(gb: float) -> str:
    return (
        f"{gb:.2f} GB"
        if gb >= 1
        else f"{gb * 1024:.0f} MB"
        if gb >= 0.01
        else f"{gb * 1024:.1f} MB"
    )


class MemoryWatch:
    def __init__(self, budget_gb: float, backend: str):
        self.budget_gb = budget_gb
        self.process = psutil.Process()
        self.swap_at_start = psutil.swap_memory().used / GB
        self._warned: set[str] = set()
        if backend == "gpu":
            # On Metal the limit makes allocation past it raise instead of swapping; on CPU it only
            # throttles, so there our own per-step check of the peak is the guard.
            mx.set_memory_limit(int(budget_gb * GB))
            _wire(budget_gb)
        mx.reset_peak_memory()

    def sample(self) -> dict:
        vm = psutil.virtual_memory()
        return {
            "mem_active_gb": round(mx.get_active_memory() / GB, 4),
            "mem_peak_gb": round(mx.get_peak_memory() / GB, 4),
            "mem_cache_gb": round(mx.get_cache_memory() / GB, 4),
            "rss_gb": round(self.process.memory_info().rss / GB, 4),
            "sys_used_gb": round((vm.total - vm.available) / GB, 3),
            "sys_available_gb": round(vm.available / GB, 3),
            "swap_used_gb": round(psutil.swap_memory().used / GB, 3),
        }

    def over_budget(self, mem: dict) -> bool:
        return mem["mem_peak_gb"] > self.budget_gb

    def warnings(self, mem: dict) -> list[str]:
        """Each warning once per process: near the budget, and the system starting to swap."""
        out = []
        if mem["mem_peak_gb"] > NEAR_BUDGET * self.budget_gb and "near" not in self._warned:
            self._warned.add("near")
            out.append(
                f"MLX peak {fmt_gb(mem['mem_peak_gb'])} is over {NEAR_BUDGET:.0%} of the "
                f"{fmt_gb(self.budget_gb)} budget"
            )
        if mem["swap_used_gb"] - self.swap_at_start > SWAP_GROWTH_GB and "swap" not in self._warned:
            self._warned.add("swap")
            out.append(
                f"the system is swapping ({fmt_gb(mem['swap_used_gb'])} of swap in use): "
                "training will slow down; consider a smaller profile"
            )
        return out
