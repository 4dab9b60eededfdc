"""The spread across training seeds: a group's runs (one per training seed) evaluated alike, each
metric's mean ± sd over the runs, base and adapter. No MLX.

Each run contributes one number per metric: its own mean over the test-sample seeds (or over all
examples), as its result holds it. The group's result is saved as
runs/<group>.group/eval/<checkpoint>-<split>.json, beside the runs' own results.
"""

from __future__ import annotations

import time
from pathlib import Path

from farense_tui.engine.evaluate.metrics import METRICS, mean_sd
from farense_tui.engine.files import atomic_write_json

LOSSES = ("loss", "perplexity")


def spread(results: list[dict]) -> dict:
    """{"metrics": side -> metric -> cell, "loss": side -> loss|perplexity -> cell}, each cell
    {mean, sd, per_run}: the runs' values in order, their mean and sample standard deviation."""
    out: dict[str, dict] = {"metrics": {}, "loss": {}}
    for side in ("base", "adapter"):
        for metric in METRICS:
            values = [
                r["metrics"][side][metric]["mean"]
                for r in results
                if side in (r.get("metrics") or {})
            ]
            if values:
                out["metrics"].setdefault(side, {})[metric] = _cell(values)
        for key in LOSSES:
            values = [r["loss"][side][key] for r in results if side in (r.get("loss") or {})]
            if values:
                out["loss"].setdefault(side, {})[key] = _cell(values)
    return out


def _cell(values: list[float]) -> dict:
    mean, sd = mean_sd(values)
    return {"mean": mean, "sd": sd, "per_run": values}


def group_result(
    group: str, name: str, runs: list[tuple[str, int, Path, dict]], skipped: list[str]
) -> dict:
    """The saved document: the group, each evaluated run (id, training seed, its result's path and
    metric means), the runs left out and why, and the spread over the evaluated ones."""
    results = [result for *_, result in runs]
    first = results[0]
    return {
        "group": group,
        "evaluation": name,
        "checkpoint": first["checkpoint"],
        "split": first["split"],
        "examples": first["examples"],
        "format": first["format"],
        "seeds": first["seeds"],
        "samples": first["samples"],
        "training_seeds": [seed for _, seed, _, _ in runs],
        "runs": [
            {
                "run": run_id,
                "seed": seed,
                "result": str(path),
                "metrics": {
                    side: {k: v["mean"] for k, v in cells.items()}
                    for side, cells in (result.get("metrics") or {}).items()
                },
            }
            for run_id, seed, path, result in runs
        ],
        "skipped": skipped,
        **spread(results),
        "note": first.get("note", ""),
        "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save(folder: Path, document: dict) -> Path:
    path = folder / "eval" / f"{document['evaluation']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, document)
    return path
