"""An evaluation's result in words: the rows of the base-vs-adapter table, for the CLI and the
cockpit.

No MLX. A metric over several seeded samples reads "mean ± sd"; the difference is adapter − base.
A group's spread across training seeds (spread.py) has the same shape, loss cells included, and
reads the same way.
"""

from __future__ import annotations

METRIC_LABELS = {"exact_match": "exact match", "token_f1": "token F1", "rouge_l": "ROUGE-L F"}


def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(what, base, adapter, adapter − base) for each metric, then loss and perplexity."""
    metrics, loss = result.get("metrics") or {}, result.get("loss") or {}
    rows = []
    for key, label in METRIC_LABELS.items():
        base, adapter = (metrics.get(side, {}).get(key) for side in ("base", "adapter"))
        if adapter is None:
            continue
        diff = _num(adapter["mean"] - base["mean"], sign=True) if base else "—"
        rows.append((label, _spread(base), _spread(adapter), diff))
    for key in ("loss", "perplexity"):
        base, adapter = (loss.get(side, {}).get(key) for side in ("base", "adapter"))
        if adapter is None:
            continue
        diff = _num(_mean(adapter) - _mean(base), sign=True) if base is not None else "—"
        rows.append(
            (f"test {key}" if key == "loss" else key, _spread(base), _spread(adapter), diff)
        )
    return rows


def cost_line(result: dict) -> str:
    cost = result.get("cost") or {}
    parts = [
        f"{cost.get('wall_hours', 0) * 3600:.0f} s ({cost.get('wall_hours', 0):.4f} h)",
        f"{cost.get('generated_tokens', 0)} tokens generated",
    ]
    if cost.get("tokens_per_sec"):
        parts.append(f"{cost['tokens_per_sec']:.1f} tokens/s")
    if cost.get("peak_memory_gb") is not None:
        parts.append(f"peak {cost['peak_memory_gb']:.2f} GB")
    if cost.get("money") is not None:
        parts.append(f"{cost['money']:.4f} at {cost['price_per_hour']}/h")
    return ", ".join(parts)


def heading(result: dict) -> str:
    seeds = result.get("seeds") or []
    sampled = next(iter((result.get("samples") or {}).values()), [])
    how = (
        f"{_count(len(seeds), 'seed')} ({', '.join(map(str, seeds))}) × {len(sampled)} examples"
        if seeds
        else "all examples"
    )
    return (
        f"{result['run']} · {result['checkpoint']} on {result['split']} "
        f"({result['examples']} examples, {result['format']}) · {how}"
    )


def format_table(result: dict) -> str:
    lines = [heading(result), *_aligned(result)]
    lines.append(f"  cost: {cost_line(result)}")
    return "\n".join(lines)


def format_group(document: dict) -> str:
    """A group's evaluation: mean ± sd across its runs (training seeds), each run's own mean
    first."""
    seeds = document["seeds"]
    sampled = next(iter((document.get("samples") or {}).values()), [])
    per_run = (
        f"its mean over {_count(len(seeds), 'test sample')} ({', '.join(map(str, seeds))}) × "
        f"{len(sampled)} examples"
        if seeds
        else f"all {document['examples']} examples"
    )
    lines = [
        f"group {document['group']} · {document['checkpoint']} on {document['split']} · "
        f"mean ± sd over {len(document['runs'])} training seeds "
        f"({', '.join(map(str, document['training_seeds']))}); each run: {per_run}",
        *_aligned(document),
    ]
    lines += [f"  skipped: {why}" for why in document.get("skipped", [])]
    return "\n".join(lines)


def _aligned(result: dict) -> list[str]:
    rows = [("", "base", "adapter", "adapter − base"), *table_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  "
        + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in rows
    ]
    if result.get("note"):
        lines.append(f"  {result['note']}")
    return lines


def _mean(cell: dict | float) -> float:
    return cell["mean"] if isinstance(cell, dict) else cell


def _spread(cell: dict | float | None) -> str:
    if cell is None or not isinstance(cell, dict):
        return _num(cell)
    return _num(cell["mean"]) + (f" ± {cell['sd']:.3f}" if cell.get("sd") is not None else "")


def _num(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
