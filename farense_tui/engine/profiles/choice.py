"""Pick the profile for this machine, and say why in words a person can check.

Without a model the choice is by RAM class (the largest profile whose min_ram_gb the machine
has). With a model (a spec, a config dict, or an estimator) the choice is the largest such class
whose *predicted* peak (memory_estimate) fits: the whole process within the machine's RAM minus
a headroom for the system, and the MLX peak within the profile's own memory budget (over it the
engine stops the run). Without a GPU the cpu profile is used either way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.machine.hardware import Hardware
from farense_tui.engine.models.local import local_folder
from farense_tui.engine.profiles.memory_estimate import (
    DEFAULT_HEADROOM,
    MemoryEstimate,
    estimate_peak,
    fmt,
    read_model,
)
from farense_tui.engine.profiles.profile import Profile

Estimator = Callable[[Profile], "MemoryEstimate | None"]


def make_estimator(model_spec, seq_len: int | None = None) -> Estimator:
    """profile -> MemoryEstimate for a model spec/folder or a config.json dict; None if unknown."""
    if isinstance(model_spec, dict):
        return lambda p: estimate_peak(model_spec, p, seq_len=seq_len)
    folder = local_folder(model_spec)
    if folder is None:
        return lambda p: None
    try:
        config, tensors, n_params = read_model(folder)
    except (OSError, ValueError, struct.error):
        return lambda p: None

    def estimate(p: Profile) -> MemoryEstimate | None:
        try:
            return estimate_peak(
                config, p, n_params or None, tensors=tensors or None, seq_len=seq_len
            )
        except (ValueError, KeyError, TypeError):
            return None

    return estimate


def usable_gb(hw: Hardware, headroom: float = DEFAULT_HEADROOM) -> float:
    """RAM a training run may use: the total less a share kept for the system and other apps."""
    return hw.ram_total_gb * (1.0 - headroom)


def fits_profile(
    est: MemoryEstimate, p: Profile, hw: Hardware, headroom: float = DEFAULT_HEADROOM
) -> bool:
    return est.fits(hw.ram_total_gb, headroom) and est.mlx_peak_gb <= p.memory_budget_gb


def choose_profile(
    hw: Hardware,
    profiles: dict[str, Profile],
    model_spec=None,
    *,
    estimate: Estimator | None = None,
    seq_len: int | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> tuple[Profile, str]:
    """(profile, reason). model_spec: a model folder/name/Hub id or a config.json dict;
    estimate: a ready estimator (profile -> MemoryEstimate | None) instead. Neither: by RAM."""
    if not profiles:
        raise UserError("no profiles found: the profiles/ folder is empty")
    if estimate is None and model_spec is not None:
        estimate = make_estimator(model_spec, seq_len)
    label = _label(model_spec)
    if not hw.has_gpu:
        cpu = [p for p in profiles.values() if p.backend == "cpu"]
        if cpu:
            reason = (
                f"no GPU for MLX here ({hw.mlx_device}): on the CPU 4-bit matmuls are slow, "
                f"so '{cpu[0].name}' trains LoRA on a {cpu[0].base_precision} base"
            )
            est = estimate(cpu[0]) if estimate else None
            if est is not None:
                reason += "; " + _peak_words(est, cpu[0], hw, headroom, label)
            return cpu[0], reason
    gpu = sorted((p for p in profiles.values() if p.backend == "gpu"), key=lambda p: p.min_ram_gb)
    if not gpu:
        raise UserError("no gpu profiles found in profiles/")
    fitting = [p for p in gpu if p.min_ram_gb <= hw.ram_total_gb + 0.5]
    if estimate is not None:
        estimates = {p.name: estimate(p) for p in gpu}
        if all(e is not None for e in estimates.values()):
            return _by_estimate(hw, gpu, fitting or gpu[:1], estimates, headroom, label)
    unknown = (
        f" ({label} is not on this machine, so its memory cannot be predicted)" if estimate else ""
    )
    if not fitting:
        smallest = gpu[0]
        return smallest, (
            f"{hw.ram_total_gb:.0f} GB RAM is below every class; '{smallest.name}' is the "
            f"smallest{unknown}"
        )
    best = fitting[-1]
    return best, (
        f"{hw.ram_total_gb:.0f} GB RAM: '{best.name}' is the largest class for "
        f"≥{best.min_ram_gb:.0f} GB "
        f"(budget {best.memory_budget_gb:.0f} GB, batch "
        f"{best.batch_size}×{best.grad_accumulation}, "
        f"sequence {best.max_seq_length}){unknown}"
    )


def _by_estimate(hw, gpu, eligible, estimates, headroom, label) -> tuple[Profile, str]:
    usable = usable_gb(hw, headroom)
    room = (
        f"{hw.ram_total_gb:.0f} GB RAM, {usable:.1f} GB usable ({headroom:.0%} kept for the system)"
    )
    ok = [p for p in eligible if fits_profile(estimates[p.name], p, hw, headroom)]
    if ok:
        best = ok[-1]
        est = estimates[best.name]
        reason = (
            f"{room}: '{best.name}' is the largest class predicted to fit {label}: peak ≈ "
            f"{fmt(est.total_gb)} "
            f"(MLX {fmt(est.mlx_peak_gb)}, budget {best.memory_budget_gb:.0f} GB; batch "
            f"{best.batch_size}×{best.grad_accumulation}, sequence "
            f"{best.max_seq_length}{_padded(est, best)})"
        )
        bigger = [p for p in eligible if p.min_ram_gb > best.min_ram_gb]
        if bigger:
            reason += "; " + "; ".join(_why_not(p, estimates[p.name], usable) for p in bigger)
        if est.total_gb > hw.ram_available_gb:
            reason += f"; only {hw.ram_available_gb:.1f} GB is free now: close other apps first"
        return best, reason
    best = min(eligible, key=lambda p: estimates[p.name].total_gb)
    est = estimates[best.name]
    return best, (
        f"{room}: no class is predicted to fit {label}; '{best.name}' needs the least, "
        f"peak ≈ {fmt(est.total_gb)} (MLX {fmt(est.mlx_peak_gb)}, budget "
        f"{best.memory_budget_gb:.0f} GB). "
        "Expect the run to be stopped and downshifted: lower batch_size or max_seq_length, turn on "
        "grad_checkpoint, train fewer lora_layers, or use a smaller model"
    )


def _padded(est: MemoryEstimate, p: Profile) -> str:
    seq = est.info.get("seq_len", p.max_seq_length)
    return f", predicted for batches padded to {seq} tokens" if seq < p.max_seq_length else ""


def _why_not(p: Profile, est: MemoryEstimate, usable: float) -> str:
    if est.total_gb > usable:
        return f"'{p.name}' would need ≈ {fmt(est.total_gb)}"
    return (
        f"'{p.name}' would peak at MLX {fmt(est.mlx_peak_gb)}, over its "
        f"{p.memory_budget_gb:.0f} GB budget"
    )


def _peak_words(est: MemoryEstimate, p: Profile, hw: Hardware, headroom: float, label: str) -> str:
    usable = usable_gb(hw, headroom)
    words = f"predicted peak for {label} ≈ {fmt(est.total_gb)} of {usable:.1f} GB usable"
    if not fits_profile(est, p, hw, headroom):
        words += " — predicted NOT to fit: lower batch_size or max_seq_length"
    return words


def _label(model_spec) -> str:
    if model_spec is None or isinstance(model_spec, dict):
        return "this model"
    return Path(str(model_spec)).name or str(model_spec)
