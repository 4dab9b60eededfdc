"""Smaller settings after an out-of-memory, keeping the effective batch (and so the schedule).

Order: halve the batch and double accumulation; when the batch is already 1, halve the
sequence; then move to the next smaller profile of the same backend.
"""

from __future__ import annotations

from farense_tui.engine.profiles.profile import MEMORY_FIELDS, RECIPE, ROUTINE, Profile, fields_of

MIN_SEQ = 64


def settings(p: Profile) -> dict:
    """What recovery and a switch may change, as a recovery event records it."""
    return {"profile": p.name, **{k: getattr(p, k) for k in MEMORY_FIELDS}}


def adopt(current: Profile, target: Profile) -> Profile:
    """The target profile's memory settings with the run's recipe and routine, and its effective
    batch."""
    eff = current.effective_batch
    batch = min(target.batch_size, eff)
    while eff % batch:
        batch -= 1
    keep = fields_of(RECIPE) + fields_of(ROUTINE)
    return target.replace(
        batch_size=batch, grad_accumulation=eff // batch, **{k: getattr(current, k) for k in keep}
    )


def downshift(current: Profile, profiles: dict[str, Profile]) -> tuple[Profile, str] | None:
    if current.batch_size > 1:
        batch = current.batch_size // 2
        while current.effective_batch % batch:
            batch -= 1
        new = current.replace(batch_size=batch, grad_accumulation=current.effective_batch // batch)
        return (
            new,
            f"batch {current.batch_size}→{batch}, accumulation "
            f"{current.grad_accumulation}→{new.grad_accumulation}",
        )
    if current.max_seq_length > MIN_SEQ:
        seq = max(current.max_seq_length // 2, MIN_SEQ)
        return current.replace(max_seq_length=seq), f"sequence {current.max_seq_length}→{seq}"
    smaller = sorted(
        (
            p
            for p in profiles.values()
            if p.backend == current.backend and p.memory_budget_gb < current.memory_budget_gb
        ),
        key=lambda p: p.memory_budget_gb,
    )
    if smaller:
        target = smaller[-1]
        return adopt(current, target), f"profile {current.name}→{target.name}"
    return None
