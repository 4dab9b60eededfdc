"""`farense-tui runs`: every run in runs/ with its status, progress and best validation loss."""

from __future__ import annotations

import time


def register(sub) -> None:
    p = sub.add_parser("runs", help="list training runs")
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine.literal import terminal_safe
    from farense_tui.engine.runs.folder import list_runs

    found = list_runs()
    if not found:
        print("no runs yet: start one with `farense-tui train` or in the cockpit (`farense-tui`)")
        return 0
    print(f"{'run':<36} {'status':<10} {'steps':>11} {'best val':>9} {'profile':<9} when")
    for r in found:
        best = f"{r.best_val_loss:.4f}" if r.best_val_loss is not None else "--"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        print(f"{terminal_safe(r.run_id):<36} {r.status:<10} {f'{r.step}/{r.total_steps}':>11} {best:>9} "
              f"{terminal_safe(r.profile):<9} {when}")
    dead = [r for r in found if r.status == "dead"]
    for r in dead:
        print(f"\n{terminal_safe(r.run_id)} stopped unexpectedly; continue it: "
              f"farense-tui train --resume {terminal_safe(r.run_id)}")
    return 0
