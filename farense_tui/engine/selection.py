"""Pick the profile for this machine, and say why in words a person can check."""

from __future__ import annotations

from farense_tui.engine.errors import UserError
from farense_tui.engine.hardware import Hardware
from farense_tui.engine.profiles import Profile


def choose_profile(hw: Hardware, profiles: dict[str, Profile]) -> tuple[Profile, str]:
    if not profiles:
        raise UserError("no profiles found: the profiles/ folder is empty")
    if not hw.has_gpu:
        cpu = [p for p in profiles.values() if p.backend == "cpu"]
        if cpu:
            return cpu[0], (
                f"no GPU for MLX here ({hw.mlx_device}): on the CPU 4-bit matmuls are slow, "
                f"so '{cpu[0].name}' trains LoRA on a {cpu[0].base_precision} base"
            )
    gpu = sorted((p for p in profiles.values() if p.backend == "gpu"), key=lambda p: p.min_ram_gb)
    if not gpu:
        raise UserError("no gpu profiles found in profiles/")
    fitting = [p for p in gpu if p.min_ram_gb <= hw.ram_total_gb + 0.5]
    if not fitting:
        smallest = gpu[0]
        return smallest, (
            f"{hw.ram_total_gb:.0f} GB RAM is below every class; '{smallest.name}' is the smallest"
        )
    best = fitting[-1]
    return best, (
        f"{hw.ram_total_gb:.0f} GB RAM: '{best.name}' is the largest class for ≥{best.min_ram_gb:.0f} GB "
        f"(budget {best.memory_budget_gb:.0f} GB, batch {best.batch_size}×{best.grad_accumulation}, "
        f"sequence {best.max_seq_length})"
    )
