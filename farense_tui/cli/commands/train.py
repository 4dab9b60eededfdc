"""`farense-tui train`: a run without the cockpit, with a progress line for SSH sessions and logs.

The run itself lives in a detached supervisor process; this command starts it (or attaches),
prints its events, and on Ctrl-C asks it to stop and save, then waits for the checkpoint.
`--seeds 0,1,2` queues a run per training seed as a group, trained one after another by the
group's own detached queue (runs/queue.py); this command then follows each run in turn, and
Ctrl-C stops the running one and the queue with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from farense_tui.cli.numbers import profile_number
from farense_tui.engine.runs.launch import BACKENDS, describe_ranks

QUEUE_STOP_WAIT = (
    10.0  # s a stopped group's summary waits for its queue to end (it looks every 0.5 s)
)


def register(sub) -> None:
    p = sub.add_parser("train", help="train headless (progress line; Ctrl-C stops and saves)")
    p.add_argument(
        "--profile", help="memory profile name or .toml path (default: chosen for this machine)"
    )
    p.add_argument(
        "--model", help="models/ name, MLX model folder or Hub id (default: the demo model)"
    )
    p.add_argument("--data", help="folder with train.jsonl and valid.jsonl (default: data/)")
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--epochs", type=profile_number("epochs"), help="passes over the train split"
    )
    length.add_argument(
        "--iters", type=profile_number("iters"), help="optimizer steps (overrides epochs)"
    )
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a profile setting for this run, checked like a profile file's key, e.g. "
        "--set learning_rate=1e-4 --set lora_rank=16 (farense-tui profiles lists the keys)",
    )
    p.add_argument(
        "--from",
        dest="from_run",
        metavar="RUN[:CHECKPOINT]",
        help="start from an earlier run's adapter (best unless a checkpoint is named): same base "
        "and LoRA shape, new data or settings; the run's config names its parent",
    )
    p.add_argument(
        "--fuse",
        action="store_true",
        help="with --from: train a new adapter on the parent's fused model instead",
    )
    p.add_argument(
        "--seeds",
        help="queue one run per training seed, e.g. 0,1,2, as a group trained one after another",
    )
    p.add_argument(
        "--group",
        metavar="NAME",
        help="the group's name with --seeds (default: the time and model)",
    )
    p.add_argument(
        "--resume", metavar="RUN", help="continue RUN (or a GROUP's queue) from its last checkpoint"
    )
    p.add_argument(
        "--attach", metavar="RUN", help="follow a run (or a GROUP's runs) that is already going"
    )
    p.add_argument(
        "--no-recover", action="store_true", help="on out-of-memory, stop instead of downshifting"
    )
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--ranks", type=int, help="data-parallel processes on this machine (default 1)"
    )
    where.add_argument(
        "--hosts", metavar="HOSTS.JSON", help="mlx.launch hostfile: one rank per Mac (see README)"
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="ring",
        help="mlx.launch backend for --ranks/--hosts (default ring: TCP)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine import runs
    from farense_tui.engine.errors import UserError
    from farense_tui.engine.profiles.profile import load_profile
    from farense_tui.engine.runs.group import find_group, start_queue

    if args.seeds and (args.attach or args.resume):
        raise UserError("--seeds queues new runs: it does not go with --attach or --resume")
    if args.group and not args.seeds:
        raise UserError("--group names the group that --seeds queues")
    if (args.from_run or args.fuse) and (args.attach or args.resume):
        raise UserError("--from starts a new run: it does not go with --attach or --resume")
    if args.fuse and not args.from_run:
        raise UserError("--fuse fuses the run named by --from: give --from RUN[:CHECKPOINT]")
    if args.settings and (args.attach or args.resume):
        raise UserError(
            "--set is for a new run: a resumed run keeps its settings (--profile switches its "
            "memory profile)"
        )
    group = find_group(args.attach or args.resume or "") if args.attach or args.resume else None
    if args.attach:
        return follow_group(group) if group else follow(runs.find_run(args.attach))
    if group is not None:  # --resume GROUP: the queue again, from where it stopped
        if all(state == "finished" for state in group.states().values()):
            print(f"every run of group {group.name} has finished: nothing to continue")
            return 0
        start_queue(group)
        print(f"group {group.name}: the queue continues ({_states(group)})")
    elif args.resume:
        run_dir = runs.find_run(args.resume)
        profile = load_profile(args.profile) if args.profile else None
        if args.ranks or args.hosts:
            _set_ranks(run_dir, args)
        runs.resume(run_dir, profile=profile)
        print(f"resuming {run_dir.name} from step {runs.info(run_dir).checkpoint_step}")
    elif args.seeds:
        group = _new_group(args)
    else:
        run_dir = _new_run(args)
    if group is not None:
        if args.detach:
            print(
                f"group {group.name} queued in the background; follow it with: farense-tui train "
                f"--attach {group.name}"
            )
            return 0
        return follow_group(group)
    if args.detach:
        print(
            f"run {run_dir.name} started in the background; follow it with: farense-tui train "
            f"--attach {run_dir.name}"
        )
        return 0
    return follow(run_dir)


def _plan(args):
    from farense_tui.engine.errors import UserError
    from farense_tui.engine.profiles.overrides import parse_settings
    from farense_tui.engine.runs.plan import plan_run

    overrides = parse_settings(args.settings)
    for option in ("iters", "epochs"):
        if getattr(args, option) and option in overrides:
            raise UserError(f"--{option} and --set {option}=… both given: keep one")
    overrides.update(
        {"iters": args.iters}
        if args.iters
        else {"epochs": args.epochs, "iters": 0}
        if args.epochs
        else {}
    )
    parent, model = _parent(args)
    plan = plan_run(
        model,
        Path(args.data) if args.data else None,
        args.profile,
        overrides=overrides,
        progress=print,
        auto_recover=not args.no_recover,
        ranks=args.ranks or 1,
        hosts=args.hosts or "",
        backend=args.backend,
        parent=parent,
        fused=args.fuse,
    )
    if not args.profile:
        print(f"profile {plan.profile.name}: {plan.reason}")
    return plan


def _parent(args):
    if not args.from_run:
        return None, args.model
    from farense_tui.engine.runs.lineage import parent_and_model

    return parent_and_model(args.from_run, args.fuse, args.model, progress=print)


def _settings(plan) -> str:
    profile = plan.profile
    given = "".join(f", {key}={value}" for key, value in plan.settings.items())
    if plan.parent:
        given += f", from {plan.parent}" + ("" if plan.init_adapter else " (its fused model)")
    return (
        f"{profile.name}, batch {profile.batch_size}×{profile.grad_accumulation}, "
        f"sequence {profile.max_seq_length}, {profile.base_precision} base{given}"
    )


def _new_run(args) -> Path:
    from farense_tui.engine.runs.plan import start_plan

    plan = _plan(args)
    run_dir = start_plan(plan)
    ranks = describe_ranks(plan.ranks, plan.hosts, plan.backend)
    print(f"run {run_dir.name}: {_settings(plan)}{', ' + ranks if ranks else ''} → {run_dir}")
    return run_dir


def _new_group(args):
    from farense_tui.engine.runs.group import parse_seeds
    from farense_tui.engine.runs.plan import queue_plan

    seeds = parse_seeds(args.seeds)
    plan = _plan(args)
    group = queue_plan(plan, seeds, args.group or "")
    print(
        f"group {group.name}: {len(seeds)} runs, training seeds {', '.join(map(str, seeds))}, one "
        f"after another: "
        f"{_settings(plan)} → {group.folder}"
    )
    return group


def _states(group) -> str:
    return ", ".join(
        f"{run_id.removeprefix(group.name + '-')} {state}"
        for run_id, state in group.states().items()
    )


def follow_group(group) -> int:
    """Follow each run of the group as the queue starts it; Ctrl-C stops the running run and the
    queue with it (the runs not started stay for `train --resume GROUP`)."""
    import time

    from farense_tui.engine import runs
    from farense_tui.engine.runs import group as groups
    from farense_tui.engine.runs.event_types import State

    total, code = len(group.run_dirs), 0
    for n, run_dir in enumerate(group.run_dirs, start=1):
        try:  # the queue may not have started this run yet: wait while it still might
            while (
                not runs.is_alive(run_dir)
                and group.queue_alive
                and runs.info(run_dir).status == State.QUEUED
            ):
                time.sleep(0.2)
        except KeyboardInterrupt:
            groups.stop(group, None)
            print(f"\nCtrl-C: the queue of group {group.name} stops before {run_dir.name} starts")
            return 130
        if not runs.is_alive(run_dir):  # ended, or left queued by a queue that is gone
            print(
                f"── run {n}/{total} of group {group.name}: {run_dir.name} "
                f"{runs.info(run_dir).status}"
            )
            continue
        code = follow(
            run_dir,
            stop=lambda d=run_dir: groups.stop(group, d),
            stopping=f"stopping and saving {run_dir.name}; the group's queue stops with it",
            header=f"── run {n}/{total} of group {group.name}: {run_dir.name} (seed "
            f"{_seed(run_dir)})",
        )
        if code == 130 or runs.info(run_dir).status == State.STOPPED:
            # The queue stops too once it sees the run stopped (it looks every half second) and
            # marks the runs it will not start: the summary waits for that, briefly.
            deadline = time.monotonic() + QUEUE_STOP_WAIT
            while group.queue_alive and time.monotonic() < deadline:
                time.sleep(0.1)
            break
    print(f"group {group.name}: {_states(group)}" + ("" if group.queue_alive else ", queue ended"))
    if all(s == State.FINISHED for s in group.states().values()):
        print(
            f"the spread across training seeds: farense-tui eval {group.name} --base --seeds "
            f"123,456,789"
        )
    elif not group.queue_alive:
        print(f"continue it with: farense-tui train --resume {group.name}")
    return code


def _seed(run_dir: Path) -> int:
    from farense_tui.engine.runs.run_folder import RunFolder

    return RunFolder(run_dir).load_config().profile.seed


def _set_ranks(run_dir: Path, args) -> None:
    """Resume on other ranks or hosts: a step's examples do not depend on them (see ranks.py)."""
    from farense_tui.engine.runs.launch import check_hosts
    from farense_tui.engine.runs.run_folder import RunFolder

    if args.hosts:
        check_hosts(args.hosts, args.backend)
    run = RunFolder(run_dir)
    cfg = run.load_config()
    cfg.ranks, cfg.backend = args.ranks or 1, args.backend
    cfg.hosts = str(Path(args.hosts).resolve()) if args.hosts else ""
    cfg.save(run.config)


def follow(
    run_dir: Path, stop=None, stopping: str = "stopping and saving a checkpoint", header: str = ""
) -> int:
    """Print `header`, then the run's events until it ends; Ctrl-C sends stop-and-save (or calls
    `stop`), a second Ctrl-C leaves."""
    import signal

    from farense_tui.engine.runs import commands

    interrupts = []

    def on_interrupt(*_) -> None:
        interrupts.append(True)
        if len(interrupts) == 1:
            print(f"\nCtrl-C: {stopping} (Ctrl-C again to leave it running)…", flush=True)
            (stop or (lambda: commands.send(run_dir, "stop")))()

    # First, so a Ctrl-C while the modules below load already stops the run.
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        if (
            header
        ):  # only now: a Ctrl-C the moment it shows must stop the run, not kill this process
            print(header, flush=True)
        return _print_run(run_dir, interrupts)
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_run(run_dir: Path, interrupts: list) -> int:
    import shlex

    from farense_tui.engine import runs
    from farense_tui.engine.data.sample_prompt import first_prompt
    from farense_tui.engine.literal import terminal_safe
    from farense_tui.engine.runs.event_types import ENDED, State
    from farense_tui.engine.runs.follow import follow as follow_run
    from farense_tui.engine.runs.run_folder import RunFolder
    from farense_tui.engine.runs.status import RunStatus, describe_event, progress_line

    config = RunFolder(run_dir).load_config()
    profile = config.profile
    status = RunStatus(
        run_dir=run_dir, budget_gb=profile.memory_budget_gb, log_every=profile.log_every
    )
    tty = sys.stdout.isatty()

    def show(events: list[dict]) -> None:
        for event in events:  # one at a time, so each line shows the figures as of its event
            if not status.add_events([event]):
                continue
            if event["type"] != "step":
                print(
                    ("\r\x1b[2K" if tty else "")
                    + f"  {event['type']:<10} {terminal_safe(describe_event(event))}",
                    flush=True,
                )
            elif not tty:
                print(progress_line(status), flush=True)
        if tty and any(e["type"] == "step" for e in events):
            print("\r\x1b[2K" + progress_line(status), end="", flush=True)

    follow_run(run_dir, show, lambda: len(interrupts) > 1, until_ended=True)
    if len(interrupts) > 1:
        print("\nleaving the run to finish its checkpoint in the background")
        return 130
    if tty:
        print()
    info = runs.info(run_dir)
    print(
        f"{info.run_id}: {info.status} at step {info.step}/{info.total_steps}"
        + (f", best val loss {info.best_val_loss:.4f}" if info.best_val_loss is not None else "")
    )
    if info.status == State.FINISHED:
        run = RunFolder(run_dir)
        kind = (
            "models" if config.profile.fine_tune_type == "full" else "adapters"
        )  # a full fine-tune's: models
        print(f"{kind}: {run.published('best')} (best), {run.published('final')} (final)")
        prompt = first_prompt(Path(config.data))
        if prompt:
            print(f"try it: farense-tui chat --run {info.run_id} {shlex.quote(prompt)}")
    elif info.status in (*ENDED, State.DEAD) and info.checkpoint_step:
        print(f"resume with: farense-tui train --resume {info.run_id}")
    return 0 if info.status in (State.FINISHED, State.STOPPED) else 1
