"""`farense-tui profiles`: the detected hardware, the profiles, which one is chosen and why."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("profiles", help="show hardware, memory profiles and the one chosen")
    p.add_argument("--profile", help="use this profile instead of the automatic choice")
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine.hardware import detect
    from farense_tui.engine.profiles import available_profiles, load_profile
    from farense_tui.engine.selection import choose_profile

    hw = detect()
    profiles = available_profiles()
    print("Hardware")
    for line in hw.summary_lines():
        print(f"  {line}")
    chosen, reason = choose_profile(hw, profiles)
    if args.profile:
        chosen, reason = load_profile(args.profile), "chosen with --profile"
    print("\nProfiles")
    print(f"  {'':2}{'name':<10} {'backend':<8} {'base':<8} {'batch':>7} {'seq':>5} {'budget':>8}")
    for p in profiles.values():
        mark = "▶ " if p.name == chosen.name else "  "
        batch = f"{p.batch_size}×{p.grad_accumulation}"
        print(
            f"  {mark}{p.name:<10} {p.backend:<8} {p.base_precision:<8} {batch:>7} "
            f"{p.max_seq_length:>5} {p.memory_budget_gb:>6.1f}GB"
        )
    print(f"\nChosen: {chosen.name} — {reason}")
    return 0
