"""`farense-tui export RUN --to fused|gguf|peft|ollama`: ship a run's adapter, checked, with
provenance."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from farense_tui.engine.export.routes import ROUTES

    p = sub.add_parser(
        "export",
        help="fuse the adapter, or write it as GGUF, PEFT or for Ollama",
        description="Routes: " + "; ".join(f"{r}: {ROUTES[r].help}" for r in ROUTES),
    )
    p.add_argument("run", help="run id (or a unique prefix, or the run folder)")
    p.add_argument("--to", required=True, choices=list(ROUTES), dest="route")
    p.add_argument(
        "--checkpoint", default="best", help="best, final or a step number (default best)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: models/<run>-<checkpoint> for fused, "
        "runs/<run>/exports/<checkpoint>-<route> for the rest)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument(
        "--keep-quantized",
        action="store_true",
        help="fused: keep a quantized base's quantization "
        "(smaller; refused when it changes answers)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine import runs
    from farense_tui.engine.export.plan import plan_export
    from farense_tui.engine.export.run import run_export

    plan = plan_export(
        runs.find_run(args.run),
        args.route,
        args.checkpoint,
        args.out,
        keep_quantized=args.keep_quantized,
        force=args.force,
    )
    print(f"exporting {plan.run_dir.name}:{plan.checkpoint} as {plan.route} → {plan.out}")
    result = run_export(plan, progress=lambda line: print(f"  {line}", flush=True))
    print(f"check: {result.check}")
    print(f"provenance: {result.provenance}")
    if result.command:
        print(f"next: {result.command}")
    return 0
