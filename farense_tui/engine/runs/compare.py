"""Runs side by side: a summary of each (settings, best validation loss, evaluations, cost), the
rows of a comparison that keep only the settings that differ, and a run's metrics as CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from farense_tui.engine.runs.event_types import EvalEvent, StepEvent, parse_event
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.folder import full_status
from farense_tui.engine.runs.run_folder import RunFolder

EVAL_METRICS = ("exact_match", "token_f1", "rouge_l")
CSV_FIELDS = (
    "step",
    "epoch",
    "loss",
    "val_loss",
    "learning_rate",
    "tokens_per_sec",
    "trained_tokens",
    "mem_peak_gb",
    "rss_gb",
    "time",
)
# Preference runs (dpo, orpo) only: the step's rewards, and the valid split's on evaluated steps.
REWARD_FIELDS = ("reward_chosen", "reward_rejected", "reward_margin", "reward_accuracy")


def run_summary(run_dir: Path, price_per_hour: float | None = None) -> dict:
    """What `runs --json` prints for a run and `runs compare` sets side by side."""
    cfg = RunFolder(run_dir).load_config()
    status = full_status(run_dir)
    return {
        "run_id": run_dir.name,
        "status": str(status.status),
        "step": status.step,
        "total_steps": status.total_steps,
        "best_val_loss": status.best_val_loss,
        "model": cfg.model,
        "data": cfg.data,
        "profile": cfg.profile.name,
        "group": cfg.group or None,
        "seed": cfg.profile.seed,
        "settings": cfg.profile.to_toml_dict(),
        "cost": status.cost.to_json(price_per_hour),
        "evaluations": evaluations(run_dir),
    }


def evaluations(run_dir: Path) -> list[dict]:
    """Each evaluation result under runs/<id>/eval/, newest first: its name and metric means."""
    found = []
    for path in sorted(
        (run_dir / "eval").glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True
    ):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # an evaluation still being written, or damaged: not a result
        metrics = result.get("metrics") if isinstance(result, dict) else None
        if not isinstance(metrics, dict):
            continue
        found.append(
            {
                "name": path.stem,
                **{
                    side: {
                        k: v["mean"]
                        for k, v in (metrics.get(side) or {}).items()
                        if k in EVAL_METRICS and isinstance(v, dict) and "mean" in v
                    }
                    for side in ("base", "adapter")
                },
            }
        )
    return found


def comparison_rows(summaries: list[dict]) -> list[tuple[str, list[str]]]:
    """(label, one cell per run): the run, its outcome, only the settings that differ, the newest
    evaluation's adapter metrics and the cost."""
    rows = [
        ("run", [s["run_id"] for s in summaries]),
        ("status", [f"{s['status']} {s['step']}/{s['total_steps']}" for s in summaries]),
        ("best val loss", [_num(s["best_val_loss"]) for s in summaries]),
    ]
    for key in ("model", "data", "profile"):
        if len({str(s[key]) for s in summaries}) > 1:
            rows.append((key, [str(s[key]) for s in summaries]))
    for key in summaries[0]["settings"]:
        values = [s["settings"].get(key) for s in summaries]
        if len({json.dumps(v) for v in values}) > 1:
            rows.append((key, [str(v) for v in values]))
    for metric in EVAL_METRICS:
        cells = [_eval_cell(s, metric) for s in summaries]
        if any(c != "--" for c in cells):
            rows.append((metric.replace("_", " "), cells))
    rows.append(("wall hours", [f"{s['cost']['wall_hours']:.3f}" for s in summaries]))
    rows.append(("trained tokens", [f"{s['cost']['trained_tokens']:,}" for s in summaries]))
    rows.append(("tokens/s", [_num(s["cost"]["tokens_per_sec"], 1) for s in summaries]))
    rows.append(("peak memory GB", [_num(s["cost"]["peak_memory_gb"], 2) for s in summaries]))
    if summaries[0]["cost"]["price_per_hour"] is not None:
        rows.append(("cost", [_num(s["cost"]["money"], 2) for s in summaries]))
    return rows


def metrics_csv(run_dir: Path) -> str:
    """One row per step, the later value winning where a resume re-ran steps; val_loss on the steps
    that were evaluated; for a preference run, the rewards (train, and val_ on evaluated steps)."""
    rows: dict[int, dict] = {}
    for raw in read_all(RunFolder(run_dir).events):
        record = parse_event(raw)
        if isinstance(record, StepEvent):
            for later in [s for s in rows if s > record.step]:
                del rows[later]  # a resume: the steps after its checkpoint are trained again
            rows[record.step] = {
                k: getattr(record, k) for k in CSV_FIELDS + REWARD_FIELDS if k != "val_loss"
            }
        elif isinstance(record, EvalEvent) and record.step in rows:
            rows[record.step]["val_loss"] = record.val_loss
            rows[record.step].update({f"val_{k}": getattr(record, k) for k in REWARD_FIELDS})
    rewarded = any(row.get(k) is not None for row in rows.values() for k in REWARD_FIELDS)
    fields = CSV_FIELDS + (REWARD_FIELDS + tuple(f"val_{k}" for k in REWARD_FIELDS)) * rewarded
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows[step] for step in sorted(rows))
    return out.getvalue()


def _eval_cell(summary: dict, metric: str) -> str:
    if not summary["evaluations"]:
        return "--"
    newest = summary["evaluations"][0]
    adapter, base = newest["adapter"].get(metric), newest["base"].get(metric)
    if adapter is None:
        return "--"
    return f"{adapter:.3f}" + (f" (base {base:.3f})" if base is not None else "")


def _num(value: float | None, digits: int = 4) -> str:
    return "--" if value is None else f"{value:.{digits}f}"
