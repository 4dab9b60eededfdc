"""`farense-tui runs`: every run with its status, progress, best validation loss and cost;
`runs compare A B …` side by side; `runs csv RUN` a run's metrics per step for a spreadsheet."""

from __future__ import annotations

import json
import sys
import time

from farense_tui.cli.numbers import number

PRICE = number(float, 0, 1e6)


def register(sub) -> None:
    p = sub.add_parser("runs", help="list, compare and export training runs")
    p.add_argument("--json", action="store_true", help="one JSON object per run, for scripts")
    p.add_argument(
        "--price-per-hour",
        type=PRICE,
        metavar="X",
        help="show what each run cost at X per hour (default: FARENSE_PRICE_PER_HOUR)",
    )
    actions = p.add_subparsers(dest="runs_command", metavar="ACTION")
    compare = actions.add_parser(
        "compare", help="settings that differ, best validation loss, eval metrics and cost"
    )
    compare.add_argument("names", nargs="+", metavar="RUN")
    compare.add_argument("--json", action="store_true", help="the comparison as JSON")
    compare.add_argument("--price-per-hour", type=PRICE, metavar="X", help="cost at X per hour")
    csv_ = actions.add_parser("csv", help="a run's metrics per step as CSV")
    csv_.add_argument("name", metavar="RUN")
    csv_.add_argument("-o", "--out", help="file to write (default: standard output)")
    p.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "price_per_hour", None) is None:  # the cockpit's price, unless given here
        from farense_tui.engine.runs.cost import price_from_env

        args.price_per_hour = price_from_env()
    if args.runs_command == "compare":
        return _compare(args)
    if args.runs_command == "csv":
        return _csv(args)
    return _list(args)


def _list(args) -> int:
    from farense_tui.engine.literal import terminal_safe
    from farense_tui.engine.runs.compare import run_summary
    from farense_tui.engine.runs.folder import list_runs

    found = list_runs()
    if args.json:
        for r in found:
            print(json.dumps(run_summary(r.path, args.price_per_hour), ensure_ascii=False))
        return 0
    if not found:
        print("no runs yet: start one with `farense-tui train` or in the cockpit (`farense-tui`)")
        return 0
    print(f"{'run':<36} {'status':<10} {'steps':>11} {'best val':>9} {'profile':<9} when")
    for r in found:
        best = f"{r.best_val_loss:.4f}" if r.best_val_loss is not None else "--"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(
            f"{terminal_safe(r.run_id):<36} {r.status:<10} {f'{r.step}/{r.total_steps}':>11} "
            f"{best:>9} "
            f"{terminal_safe(r.profile):<9} {when}"
        )
        if r.parent:
            print(f"{'':<36} from {terminal_safe(r.parent)}")
        if args.price_per_hour is not None:
            from farense_tui.engine.runs.folder import full_status

            print(f"{'':<36} cost: {full_status(r.path).cost.words(args.price_per_hour)}")
    _groups()
    for r in (r for r in found if r.status == "dead"):
        print(
            f"\n{terminal_safe(r.run_id)} stopped unexpectedly; continue it: "
            f"farense-tui train --resume {terminal_safe(r.run_id)}"
        )
    return 0


def _groups() -> None:
    """A line per group queued with `train --seeds`: its runs' states and whether its queue runs."""
    from farense_tui.engine.literal import terminal_safe
    from farense_tui.engine.runs.group import list_groups

    for n, group in enumerate(list_groups()):
        states = ", ".join(
            f"seed {seed} {state}" for seed, state in zip(group.seeds, group.states().values())
        )
        queue = "queue running" if group.queue_alive else "queue ended"
        print(("\n" if n == 0 else "") + f"group {terminal_safe(group.name)} ({queue}): {states}")


def _compare(args) -> int:
    from farense_tui.engine.runs.compare import comparison_rows, run_summary
    from farense_tui.engine.runs.folder import find_run

    summaries = [run_summary(find_run(name), args.price_per_hour) for name in args.names]
    if args.json:
        print(json.dumps(summaries, indent=2, ensure_ascii=False))
        return 0
    rows = comparison_rows(summaries)
    width = max(len(label) for label, _ in rows)
    cols = [max(len(row[1][i]) for row in rows) for i in range(len(summaries))]
    for label, cells in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, cols)).rstrip())
    return 0


def _csv(args) -> int:
    from farense_tui.engine.runs.compare import metrics_csv
    from farense_tui.engine.runs.folder import find_run

    text = metrics_csv(find_run(args.name))
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"wrote {text.count(chr(10)) - 1} steps to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
