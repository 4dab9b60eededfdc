"""`farense-tui eval`: score a run's adapter against the base model on a held-out split.

The evaluation runs in its own process (engine/evaluate/); this command starts it, prints its
progress as it follows its events, cancels it on Ctrl-C, and prints the table (or the JSON).
Given a group (`train --seeds`), it evaluates each of its runs alike and reports the spread
across the training seeds (engine/evaluate/spread.py).
"""

from __future__ import annotations

import json
import sys

from farense_tui.engine.errors import UserError
from farense_tui.engine.evaluate.job import DEFAULT_BATCH, DEFAULT_SAMPLE_SEED


def register(sub) -> None:
    p = sub.add_parser("eval", help="score an adapter (and the base model) on the test split")
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="runs or groups (train --seeds) to evaluate (default: the newest run with an adapter)",
    )
    p.add_argument(
        "--checkpoint", default="best", help="best, final, last or a step number (default best)"
    )
    p.add_argument("--split", default="test", help="test, valid or a JSONL file (default test)")
    p.add_argument(
        "--base",
        action="store_true",
        help="also score the base model (no adapter) on the same examples",
    )
    p.add_argument("--max-tokens", type=int, default=128, help="tokens per answer (default 128)")
    p.add_argument(
        "--samples",
        type=int,
        default=0,
        help="examples per seeded sample (default: all); without --seeds, one sample drawn with "
        f"seed {DEFAULT_SAMPLE_SEED}, the same examples each time",
    )
    p.add_argument(
        "--seeds", default="", help="sample seeds, e.g. 123,456,789: mean ± sd over them"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"answers generated at once (default {DEFAULT_BATCH}); the answers are the same, "
        "a bigger batch is faster and takes more memory",
    )
    p.add_argument(
        "--system", help="system message for examples without one (default: the training one)"
    )
    p.add_argument(
        "--price-per-hour",
        type=float,
        help="money per hour of this machine, to cost the evaluation",
    )
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON, one object per run or group"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine.runs.group import Group

    seeds = _seeds(args.seeds)
    if args.max_tokens < 1 or args.samples < 0 or args.batch < 1:
        raise UserError("--max-tokens and --batch must be at least 1 and --samples at least 0")
    code = 0
    for target in _targets(args.runs):
        if isinstance(target, Group):
            code = max(code, _evaluate_group(target, args, seeds))
            continue
        result = _evaluate(_settings(args, target, seeds), quiet=args.json)
        if result is None:
            code = 1
        else:
            _print_result(result, args.json)
    return code


def _settings(args, run_dir, seeds: list[int]):
    from farense_tui.engine.evaluate.job import EvalSettings

    return EvalSettings(
        run_dir=str(run_dir),
        checkpoint=args.checkpoint,
        split=args.split,
        base=args.base,
        max_tokens=args.max_tokens,
        samples=args.samples,
        seeds=seeds,
        batch_size=args.batch,
        price_per_hour=args.price_per_hour,
        system=args.system,
    )


def _print_result(result: dict, as_json: bool) -> None:
    from farense_tui.engine.evaluate.report import format_table

    print(json.dumps(result, ensure_ascii=False) if as_json else format_table(result))


def _evaluate_group(group, args, seeds: list[int]) -> int:
    """Each run of the group evaluated as a run is, then the spread across their training seeds."""
    from farense_tui.engine import runs
    from farense_tui.engine.evaluate.job import EvalJob
    from farense_tui.engine.evaluate.report import format_group
    from farense_tui.engine.evaluate.spread import group_result, save
    from farense_tui.engine.runs.run_folder import RunFolder

    evaluated, skipped = [], []
    for run_dir in group.run_dirs:
        if runs.is_alive(run_dir):
            skipped.append(f"{run_dir.name}: still training")
            continue
        settings = _settings(args, run_dir, seeds)
        try:
            result = _evaluate(settings, quiet=args.json)
        except UserError as exc:  # no such adapter (a run stopped before its first checkpoint, say)
            skipped.append(f"{run_dir.name}: {exc}")
            continue
        if result is None:
            return 1
        if not args.json:
            _print_result(result, as_json=False)
        seed = RunFolder(run_dir).load_config().profile.seed
        evaluated.append((run_dir.name, seed, EvalJob(run_dir, settings.name).result_path, result))
    if not evaluated:
        raise UserError(f"group {group.name}: no run could be evaluated: " + "; ".join(skipped))
    document = group_result(group.name, settings.name, evaluated, skipped)
    path = save(group.folder, document)
    if args.json:
        print(json.dumps(document, ensure_ascii=False))
    else:
        print(f"{format_group(document)}\n  results: {path}")
    return 0 if not skipped else 1


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(
            f"--seeds {text!r}: expected whole numbers separated by commas, e.g. 123,456,789"
        ) from None


def _targets(names: list[str]):
    """Each name as a group (train --seeds) or a run folder."""
    from farense_tui.engine import runs
    from farense_tui.engine.runs.group import find_group
    from farense_tui.engine.runs.run_folder import RunFolder

    if names:
        return [find_group(n) or runs.find_run(n) for n in names]
    done = [r.path for r in runs.list_runs() if RunFolder(r.path).adapter_choices()]
    if not done:
        raise UserError("no run with an adapter yet: train one first")
    return done[:1]


def _evaluate(settings, quiet: bool) -> dict | None:
    """Start the evaluation, print its progress until it ends; Ctrl-C cancels it."""
    import signal

    from farense_tui.engine.evaluate import job as jobs
    from farense_tui.engine.runs.follow import follow

    job = jobs.start(settings)
    out = sys.stderr if quiet else sys.stdout
    tty = out.isatty()
    last: dict = {}

    def show(events: list[dict]) -> None:
        for event in events:
            last.update(event if event["type"] == "state" else {})
            if event["type"] == "progress" and event["phase"] == "answers":
                eta = (
                    f", about {event['eta_sec']:.0f} s left"
                    if event.get("eta_sec") is not None
                    else ""
                )
                line = f"  answers {event['done']}/{event['total']}{eta}"
                print(
                    ("\r\x1b[2K" + line) if tty else line,
                    end="" if tty else "\n",
                    file=out,
                    flush=True,
                )
            elif event["type"] in ("state", "error"):
                print(
                    ("\r\x1b[2K" if tty else "")
                    + f"  {event.get('state', 'error'):<10} {event['message']}",
                    file=out,
                    flush=True,
                )

    cancelled = []

    def on_interrupt(*_) -> None:
        cancelled.append(True)
        print("\nCtrl-C: cancelling the evaluation…", file=out, flush=True)
        jobs.cancel(job)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        follow(job.folder, show, lambda: False, is_alive=jobs.is_alive, until_ended=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    if last.get("state") != "finished":
        if not cancelled:
            print(
                f"evaluation of {job.run_dir.name} did not finish: "
                f"{last.get('message', 'see ' + str(job.folder / 'eval.log'))}",
                file=sys.stderr,
            )
        return None
    print(f"results: {job.result_path}\nanswers: {job.answers_path}", file=out)
    return job.result()
