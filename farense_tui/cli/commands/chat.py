"""`farense-tui chat`: talk to a run's adapter (or the base model) in a streaming REPL, or answer
one prompt from the command line, optionally as JSON like the original inference script."""

from __future__ import annotations

import json
import sys
import time

from farense_tui.cli.numbers import number
from farense_tui.engine.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("chat", help="talk to a trained adapter or a base model")
    p.add_argument("prompt", nargs="?", help="answer this one prompt and exit (else: interactive)")
    p.add_argument("--run", help="the run whose adapter to use (default: the newest finished run)")
    p.add_argument(
        "--checkpoint", default="best", help="best, last, final or a step number (default best)"
    )
    p.add_argument("--base", action="store_true", help="the run's base model, without the adapter")
    p.add_argument("--model", help="chat with this base model instead of a run")
    p.add_argument(
        "--system", help='system message (default: the one the run trained with; "" for none)'
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (answer or error)")
    p.add_argument("--temperature", type=number(float, 0.0, 5.0), default=0.0)
    p.add_argument("--top-p", type=number(float, 0.0, 1.0, above_low=True), default=1.0)
    p.add_argument("--max-tokens", type=number(int, 1, 100_000), default=256)
    p.set_defaults(func=run)


def _target(args):
    from farense_tui.engine import runs
    from farense_tui.engine.chat.service import ChatTarget, target_for_run
    from farense_tui.engine.machine.hardware import detect
    from farense_tui.engine.models.local import resolve_model
    from farense_tui.engine.runs.run_folder import PUBLISHED, RunFolder

    if args.model:
        from farense_tui.engine.data.system_message import model_system_message

        precision = "4bit" if detect().has_gpu else "float32"
        folder = resolve_model(args.model, progress=print)
        return ChatTarget(
            folder, None, precision, "base", model_system_message(folder)
        )  # a fused export's
    if args.run:
        run_dir = runs.find_run(args.run)
    else:
        done = [
            r
            for r in runs.list_runs()
            if any(RunFolder(r.path).published(n).exists() for n in PUBLISHED)
        ]
        if not done:
            raise UserError(
                "no run with an adapter yet: train one, or pass --model for a base model"
            )
        run_dir = done[0].path
    return target_for_run(run_dir, args.checkpoint, base=args.base)


def run(args) -> int:
    from farense_tui.engine.chat.service import load_target, stream_reply

    try:
        target = _target(args)
        model, tokenizer = load_target(target)
    except UserError as exc:
        if args.json:
            print(
                json.dumps(
                    {"question": args.prompt, "answer": None, "error": str(exc)}, ensure_ascii=False
                )
            )
            return 1
        raise
    settings = dict(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    system = target.system if args.system is None else args.system
    opening = (
        [{"role": "system", "content": system}] if system else []
    )  # ask the way training taught
    if args.prompt is not None:
        messages = [*opening, {"role": "user", "content": args.prompt}]
        if args.json:
            tic, text, count = time.perf_counter(), "", 0
            for response in stream_reply(model, tokenizer, messages, **settings):
                text, count = text + response.text, count + 1
            print(
                json.dumps(
                    {
                        "question": args.prompt,
                        "answer": text.strip(),
                        "system": system or None,
                        "model": target.model,
                        "adapter": str(target.adapter) if target.adapter else None,
                        "tokens": count,
                        "tokens_per_sec": round(count / (time.perf_counter() - tic), 1),
                        "error": None,
                    },
                    ensure_ascii=False,
                )
            )
            return 0
        _stream(model, tokenizer, messages, settings)
        return 0
    print(
        f"chatting with {target.label} ({target.model}); empty line or Ctrl-D to quit, Ctrl-C "
        f"stops a reply"
    )
    if system:
        print(f"system message: {system}")
    history: list[dict] = list(opening)
    while True:
        try:
            question = input("\n› ")
        except EOFError:
            return 0
        if not question.strip():
            return 0
        history.append({"role": "user", "content": question})
        history.append(
            {"role": "assistant", "content": _stream(model, tokenizer, history, settings)}
        )


def _stream(model, tokenizer, messages, settings) -> str:
    from farense_tui.engine.chat.service import stream_reply
    from farense_tui.engine.literal import terminal_safe

    text = ""
    try:
        for response in stream_reply(model, tokenizer, messages, **settings):
            text += response.text
            sys.stdout.write(terminal_safe(response.text))
            sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stdout.write(" [stopped]")
    print()
    return text
