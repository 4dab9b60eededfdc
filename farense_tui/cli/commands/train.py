"""`farense-tui train`: a run without the cockpit, with a progress line for SSH sessions and logs.

The run itself lives in a detached supervisor process; this command starts it (or attaches),
prints its events, and on Ctrl-C asks it to stop and save, then waits for the checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

from farense_tui.cli.numbers import profile_number
from farense_tui.engine.runs.launch import BACKENDS, describe_ranks


def register(sub) -> None:
    p = sub.add_parser("train", help="train headless (progress line; Ctrl-C stops and saves)")
    p.add_argument("--profile", help="memory profile name or .toml path (default: chosen for this machine)")
    p.add_argument("--model", help="models/ name, MLX model folder or Hub id (default: the demo model)")
    p.add_argument("--data", help="folder with train.jsonl and valid.jsonl (default: data/)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=profile_number("epochs"), help="passes over the train split")
    length.add_argument("--iters", type=profile_number("iters"), help="optimizer steps (overrides epochs)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    p.add_argument("--attach", metavar="RUN", help="follow a run that is already going")
    p.add_argument("--no-recover", action="store_true", help="on out-of-memory, stop instead of downshifting")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--ranks", type=int, help="data-parallel processes on this machine (default 1)")
    where.add_argument("--hosts", metavar="HOSTS.JSON", help="mlx.launch hostfile: one rank per Mac (see README)")
    p.add_argument("--backend", choices=BACKENDS, default="ring",
                   help="mlx.launch backend for --ranks/--hosts (default ring: TCP)")
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine import runs
    from farense_tui.engine.profiles.profile import load_profile

    if args.attach:
        return follow(runs.find_run(args.attach))
    if args.resume:
        run_dir = runs.find_run(args.resume)
        profile = load_profile(args.profile) if args.profile else None
        if args.ranks or args.hosts:
            _set_ranks(run_dir, args)
        runs.resume(run_dir, profile=profile)
        print(f"resuming {run_dir.name} from step {runs.info(run_dir).checkpoint_step}")
    else:
        run_dir = _new_run(args)
    if args.detach:
        print(f"run {run_dir.name} started in the background; follow it with: farense-tui train --attach {run_dir.name}")
        return 0
    return follow(run_dir)


def _new_run(args) -> Path:
    from farense_tui.engine.runs.plan import plan_run, start_plan

    overrides = {"iters": args.iters} if args.iters else {"epochs": args.epochs, "iters": 0} if args.epochs else None
    plan = plan_run(args.model, Path(args.data) if args.data else None, args.profile, overrides=overrides,
                    progress=print, auto_recover=not args.no_recover, ranks=args.ranks or 1,
                    hosts=args.hosts or "", backend=args.backend)
    profile = plan.profile
    if not args.profile:
        print(f"profile {profile.name}: {plan.reason}")
    run_dir = start_plan(plan)
    ranks = describe_ranks(plan.ranks, plan.hosts, plan.backend)
    print(f"run {run_dir.name}: {profile.name}, batch {profile.batch_size}×{profile.grad_accumulation}, "
          f"sequence {profile.max_seq_length}, {profile.base_precision} base{', ' + ranks if ranks else ''} → {run_dir}")
    return run_dir


def _set_ranks(run_dir: Path, args) -> None:
    """Resume on other ranks or hosts: a step's examples do not depend on them (see ranks.py)."""
    from farense_tui.engine.runs.config import RunConfig
    from farense_tui.engine.runs.launch import check_hosts

    if args.hosts:
        check_hosts(args.hosts, args.backend)
    cfg = RunConfig.load(run_dir / "config.toml")
    cfg.ranks, cfg.backend = args.ranks or 1, args.backend
    cfg.hosts = str(Path(args.hosts).resolve()) if args.hosts else ""
    cfg.save(run_dir / "config.toml")


def follow(run_dir: Path) -> int:
    """Print the run's events until it ends; Ctrl-C sends stop-and-save, a second Ctrl-C leaves."""
    import shlex
    import signal

    from farense_tui.engine import runs
    from farense_tui.engine.data.sample_prompt import first_prompt
    from farense_tui.engine.runs import commands
    from farense_tui.engine.runs.config import RunConfig
    from farense_tui.engine.runs.event_types import ENDED, State
    from farense_tui.engine.runs.follow import follow as follow_run
    from farense_tui.engine.literal import terminal_safe
    from farense_tui.engine.runs.status import RunStatus, describe_event, progress_line

    config = RunConfig.load(run_dir / "config.toml")
    profile = config.profile
    status = RunStatus(run_dir=run_dir, budget_gb=profile.memory_budget_gb, log_every=profile.log_every)
    tty = sys.stdout.isatty()

    def show(events: list[dict]) -> None:
        for event in events:  # one at a time, so each line shows the figures as of its event
            if not status.add_events([event]):
                continue
            if event["type"] != "step":
                print(("\r\x1b[2K" if tty else "") + f"  {event['type']:<10} {terminal_safe(describe_event(event))}",
                      flush=True)
            elif not tty:
                print(progress_line(status), flush=True)
        if tty and any(e["type"] == "step" for e in events):
            print("\r\x1b[2K" + progress_line(status), end="", flush=True)

    interrupts = []

    def on_interrupt(*_) -> None:
        interrupts.append(True)
        if len(interrupts) == 1:
            print("\nCtrl-C: stopping and saving a checkpoint (Ctrl-C again to leave it running)…", flush=True)
            commands.send(run_dir, "stop")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        follow_run(run_dir, show, lambda: len(interrupts) > 1, until_ended=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    if len(interrupts) > 1:
        print("\nleaving the run to finish its checkpoint in the background")
        return 130
    if tty:
        print()
    info = runs.info(run_dir)
    print(f"{info.run_id}: {info.status} at step {info.step}/{info.total_steps}"
          + (f", best val loss {info.best_val_loss:.4f}" if info.best_val_loss is not None else ""))
    if info.status == State.FINISHED:
        print(f"adapters: {run_dir / 'best'} (best), {run_dir / 'final'} (final)")
        prompt = first_prompt(Path(config.data))
        if prompt:
            print(f"try it: farense-tui chat --run {info.run_id} {shlex.quote(prompt)}")
    elif info.status in (*ENDED, State.DEAD) and info.checkpoint_step:
        print(f"resume with: farense-tui train --resume {info.run_id}")
    return 0 if info.status in (State.FINISHED, State.STOPPED) else 1
