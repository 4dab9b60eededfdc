"""`farense-tui serve RUN`: an OpenAI-compatible endpoint on 127.0.0.1 with the run's adapter
(mlx-lm's server); prints the URL and a curl example, Ctrl-C stops it."""

from __future__ import annotations

import signal
import time


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="serve a run's adapter over an OpenAI-compatible HTTP API on 127.0.0.1"
    )
    p.add_argument("run", help="run id (or a unique prefix, or the run folder)")
    p.add_argument(
        "--checkpoint", default="best", help="best, final or a step number (default best)"
    )
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    p.set_defaults(func=run)


def run(args) -> int:
    from farense_tui.engine import runs
    from farense_tui.engine.chat.server import server_for_run

    server = server_for_run(runs.find_run(args.run), args.checkpoint, args.port)
    print(
        f"starting mlx-lm's server: {server.model} + {server.adapter} as {server.name!r} (log: "
        f"{server.log})",
        flush=True,
    )
    for sig in (
        signal.SIGTERM,
        signal.SIGHUP,
    ):  # a closed terminal or `kill` must stop the server too
        signal.signal(sig, _interrupt)
    server.start()
    print(server.adapter_check())
    print(
        f"serving {server.name!r} on {server.url} (OpenAI-compatible: /chat/completions, /models; "
        "other model names get 404); Ctrl-C stops it"
    )
    print(server.curl_example(), flush=True)
    try:
        while server.process.poll() is None:
            time.sleep(0.5)
        print(f"the server exited ({server.process.returncode}); see {server.log}")
        return 1
    except KeyboardInterrupt:
        print("stopping the server")
        return 0
    finally:
        server.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
