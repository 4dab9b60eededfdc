"""`farense-tui profiles`: the hardware, the profiles with each one's predicted memory peak for a
model, which one is chosen and why."""

from __future__ import annotations

from farense_tui.cli.numbers import profile_number


def register(sub) -> None:
    p = sub.add_parser(
        "profiles", help="show hardware, memory profiles, predicted peaks and the one chosen"
    )
    p.add_argument("--profile", help="use this profile instead of the automatic choice")
    p.add_argument(
        "--model",
        help="predict memory for this model (a folder in models/, a path, or a downloaded Hub id); "
        "default: the demo model, if it is in models/",
    )
    p.add_argument(
        "--seq",
        type=profile_number("max_seq_length"),
        metavar="N",
        help="predict for batches padded to N tokens (the longest example your data has) instead "
        "of "
        "each profile's max_seq_length",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine import paths
    from farense_tui.engine.machine.hardware import detect
    from farense_tui.engine.models.demo import DEMO_MODEL
    from farense_tui.engine.models.local import local_folder
    from farense_tui.engine.profiles.choice import (
        choose_profile,
        fits_profile,
        make_estimator,
        usable_gb,
    )
    from farense_tui.engine.profiles.memory_estimate import DEFAULT_HEADROOM, LABELS, fmt
    from farense_tui.engine.profiles.profile import available_profiles, load_profile

    hw = detect()
    profiles = available_profiles()
    print("Hardware")
    for line in hw.summary_lines():
        print(f"  {line}")

    spec = args.model
    if spec is None and (paths.models_dir() / DEMO_MODEL / "config.json").is_file():
        spec = DEMO_MODEL
    estimate = make_estimator(spec, args.seq) if spec else None
    estimates = {name: estimate(p) for name, p in profiles.items()} if estimate else {}
    known = any(e is not None for e in estimates.values())

    print("\nModel")
    if spec is None:
        print(f"  none given and no demo model in {paths.models_dir()}: choosing by RAM class only")
        print("  (farense-tui profiles --model NAME, or farense-tui models fetch-demo)")
    elif not known:
        print(
            f"  {spec}: not on this machine (or not readable), so its memory cannot be predicted;"
        )
        print("  choosing by RAM class only")
    else:
        first = next(e for e in estimates.values() if e is not None)
        print(
            f"  {local_folder(spec)}  ({first.info['params'] / 1e6:.0f}M parameters, "
            f"{first.info['layers']} blocks, vocabulary {first.info['vocab']})"
        )
        padded = (
            f"padded to {args.seq} tokens"
            if args.seq
            else "padded to each profile's max_seq_length (worst case)"
        )
        print(f"  predicted peaks assume batches {padded}")
        print(
            f"  usable memory: {hw.ram_total_gb:.1f} GB RAM less {DEFAULT_HEADROOM:.0%} for the "
            f"system = "
            f"{usable_gb(hw):.1f} GB ({hw.ram_available_gb:.1f} GB free now)"
        )

    chosen, reason = (
        choose_profile(hw, profiles, spec, estimate=estimate)
        if spec
        else choose_profile(hw, profiles)
    )
    if args.profile:
        chosen, reason = load_profile(args.profile), "chosen with --profile"
        if known:
            estimates.setdefault(chosen.name, estimate(chosen))

    print("\nProfiles")
    print(
        f"  {'':2}{'name':<10} {'backend':<8} {'base':<8} {'batch':>7} {'seq':>5} {'budget':>8}"
        + (f" {'peak':>9} {'MLX peak':>9}  fits" if known else "")
    )
    for p in profiles.values():
        mark = "▶ " if p.name == chosen.name else "  "
        batch = f"{p.batch_size}×{p.grad_accumulation}"
        line = (
            f"  {mark}{p.name:<10} {p.backend:<8} {p.base_precision:<8} {batch:>7} "
            f"{p.max_seq_length:>5} {p.memory_budget_gb:>6.1f}GB"
        )
        est = estimates.get(p.name)
        if est is not None:
            verdict = (
                "yes"
                if fits_profile(est, p, hw)
                else ("no (RAM)" if not est.fits(hw.ram_total_gb) else "no (budget)")
            )
            line += f" {fmt(est.total_gb):>9} {fmt(est.mlx_peak_gb):>9}  {verdict}"
        print(line)
    print(f"\nChosen: {chosen.name} — {reason}")
    est = estimates.get(chosen.name)
    if est is not None:
        print(f"\nPredicted peak of '{chosen.name}': {fmt(est.total_gb)}")
        for name, gb in est.parts.items():
            print(f"  {LABELS.get(name, name):<12} {fmt(gb):>9}")
        info = est.info
        print(
            f"  ({info['stored']} base, {info['trained_params'] / 1e6:.2f}M "
            f"{'fully trained' if info['fine_tune_type'] == 'full' else 'LoRA'} parameters on "
            f"{info['lora_layers']} blocks, {info['batch_size']}×{info['seq_len']} tokens per "
            f"micro-batch, "
            f"{'with' if info['grad_checkpoint'] else 'no'} gradient checkpointing)"
        )
        print(
            "  Calibrated against MLX peaks measured on the CPU backend (BENCHMARKS.md); "
            "Metal peaks were not measured."
        )
    return 0
