"""`farense-tui data check [PATH]`: validate a data set before training; exit 0 if ready, 1 if
not."""

from __future__ import annotations

import sys

from farense_tui.cli.numbers import number


def register(sub) -> None:
    p = sub.add_parser("data", help="check training data (train/valid/test.jsonl)")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    c = data_sub.add_parser(
        "check",
        help="validate a data folder or .jsonl file: format, every line, token lengths",
        description="Check every line of train.jsonl / valid.jsonl / test.jsonl (or one .jsonl "
        "file) and show counts and token lengths as training will see them. "
        "Exit status 0 when the data is ready to train on, 1 when problems were found.",
    )
    c.add_argument("path", nargs="?", help="data folder or .jsonl file (default: the data/ folder)")
    c.add_argument(
        "--model",
        help="model folder (or name under models/) whose tokenizer counts tokens "
        "(default: models/smollm2-135m-instruct if present, else lengths in characters)",
    )
    c.add_argument(
        "--profile",
        help="profile whose max_seq_length, mask_prompt and batch_size apply",
    )
    c.add_argument(
        "--max-seq-length",
        type=number(int, 1, 131072),
        metavar="N",
        help="count examples longer than N tokens (overrides the profile's)",
    )
    c.add_argument(
        "--max-problems",
        type=number(int, 1, 100_000),
        default=20,
        metavar="N",
        help="problems shown per file (default 20)",
    )
    c.add_argument(
        "--tokens",
        type=number(int, 1, 1000),
        nargs="?",
        const=3,
        metavar="N",
        help="show the first N train examples (default 3) as the model sees them, trained tokens "
        "marked, and per split the examples that train on nothing or whose answer is cut "
        "(needs a tokenizer: --model, or the demo model; mask_prompt on unless --profile says "
        "otherwise)",
    )
    c.set_defaults(func=run_check)


def run_check(args) -> int:
    from pathlib import Path

    from farense_tui.engine import paths
    from farense_tui.engine.data.check import check_data, default_model_dir, load_tokenizer_for
    from farense_tui.engine.errors import UserError

    path = Path(args.path) if args.path else paths.data_dir()

    max_seq_length = mask_prompt = batch_size = None
    if args.profile:
        from farense_tui.engine.profiles.profile import load_profile

        profile = load_profile(args.profile)
        max_seq_length = profile.max_seq_length
        mask_prompt = profile.mask_prompt
        batch_size = profile.batch_size
    if args.max_seq_length:
        max_seq_length = args.max_seq_length
    if (
        args.tokens and mask_prompt is None
    ):  # the view shows what a run trains: every profile's default
        from farense_tui.engine.profiles.profile import Profile

        mask_prompt = Profile().mask_prompt
    notes = []
    if (
        max_seq_length is None
    ):  # the largest a run could use: an example over it is too long for any
        from farense_tui.engine.profiles.profile import available_profiles

        largest = max(available_profiles().values(), key=lambda p: p.max_seq_length, default=None)
        if largest is not None:
            max_seq_length = largest.max_seq_length
            notes.append(
                f"note: lengths checked against the largest profile's max_seq_length "
                f"({largest.name}: {max_seq_length}; choose with --profile)"
            )

    tokenizer = None
    model = args.model or (default_model_dir() if default_model_dir().is_dir() else None)
    if args.model:
        tokenizer = load_tokenizer_for(args.model)
    elif default_model_dir().is_dir():
        try:
            tokenizer = load_tokenizer_for(default_model_dir())
        except UserError as exc:
            notes.append(f"note: {exc}; lengths in characters instead")
        else:
            notes.append(f"note: tokens counted with {default_model_dir()} (choose with --model)")

    if args.tokens and tokenizer is None:
        raise UserError(
            "--tokens needs a tokenizer: give --model (a local model folder or a name in models/), "
            "or fetch the demo model (farense-tui models fetch-demo)"
        )
    report = check_data(
        path, tokenizer, max_seq_length, mask_prompt=bool(mask_prompt), batch_size=batch_size
    )

    print(f"Checking {path}")
    for line in notes:
        print(f"  {line}")
    for line in report.summary_lines():
        print(f"  {line}")
    if args.profile:
        print(
            f"  profile {args.profile}: mask_prompt = {str(bool(mask_prompt)).lower()}, "
            f"batch_size = {batch_size}"
        )
        for line in profile_lines(report, profile.replace(max_seq_length=max_seq_length), model):
            print(f"  {line}")
    if args.tokens:
        from farense_tui.cli.token_lines import token_lines
        from farense_tui.engine.data.token_view import token_views

        print(
            f"  mask_prompt = {str(bool(mask_prompt)).lower()}"
            + ("" if args.profile else " (every profile's default; choose with --profile)")
        )
        views = token_views(path, tokenizer, bool(mask_prompt), max_seq_length, args.tokens)
        print()
        for line in token_lines(views, report, sys.stdout.isatty()):
            print(line)
    problems = report.problems
    if problems:
        print(f"\nProblems ({len(problems)}):")
        for line in report.problem_lines(per_file=args.max_problems):
            print(f"  {line}")
    if report.warnings:
        print(f"\nWarnings ({len(report.warnings)}):")
        for warning in report.warnings[: args.max_problems]:
            print(f"  {warning}")
    print()
    if report.ok:
        print("OK: ready to train.")
        return 0
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"Not ready: {len(problems)} {noun} to fix.", file=sys.stdout)
    else:
        print("Not ready: no examples to train on.")
    return 1


def profile_lines(report, profile, model) -> list[str]:
    """What the profile makes of the data: text data's masking, and the cost (steps, tokens, time
    per epoch at the speed earlier runs of `model` measured)."""
    from farense_tui.engine.data.cost import cost_lines, data_cost
    from farense_tui.engine.data.masking import report_masking_note
    from farense_tui.engine.models.local import local_folder
    from farense_tui.engine.runs.speed import measured_speed

    note = report_masking_note(report, profile.mask_prompt)
    lines = [note] if note else []
    cost = data_cost(report, profile) if report.ok else None
    if cost is not None:
        speed = measured_speed(str(local_folder(model) or model)) if model is not None else None
        lines += cost_lines(cost, profile, speed)
    return lines
