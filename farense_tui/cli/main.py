"""Entry point of the `farense-tui` console script.

With no command it opens the Textual cockpit; otherwise it dispatches to a module of
`farense_tui.cli.commands`, each of which adds its own sub-parser (found by name, so a new
command is one new file).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from farense_tui.cli import commands
from farense_tui.engine.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="farense-tui",
        description="Fine-tune LLMs with (Q)LoRA on MLX from the terminal. "
        "Run with no command to open the cockpit.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from farense_tui.engine.machine.blas import load_fast_blas

    if argv is None:  # a real command line; called in-process (tests) the BLAS is left as it is
        load_fast_blas()
    # The cockpit needs no parser: building it imports every command's module, ~0.1 s of a
    # start-up that should show its first frame within 1 s.
    args = build_parser().parse_args(argv) if (sys.argv[1:] if argv is None else argv) else None
    if args is None:
        from farense_tui.tui.long_lived import collect_later

        collect_later()
    try:
        if args is None or args.command is None:
            from farense_tui.tui.app import run_app

            return run_app()
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"farense-tui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`farense-tui runs | head`): stop quietly, as a pipe's writer does.
        # Python would report the pipe again while flushing stdout at exit: it goes nowhere now.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
