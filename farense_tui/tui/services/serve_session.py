"""The App's adapter server: at most one `mlx_lm server` at a time, stopped when the App closes.

Starting waits until the server answers (seconds: it loads the model), so `start` is called from
a thread worker; the server is a process of its own, so no MLX is loaded into the cockpit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if (
    TYPE_CHECKING
):  # the server module (urllib, http) is imported when a server starts, not at start-up
    from farense_tui.engine.chat.server import AdapterServer


class ServeSession:
    def __init__(self) -> None:
        self.server: AdapterServer | None = None
        self.label = ""

    @property
    def running(self) -> bool:
        return (
            self.server is not None
            and self.server.process is not None
            and self.server.process.poll() is None
        )

    def start(self, run_dir: Path, checkpoint: str) -> AdapterServer:
        """Stop any server, then start one for this adapter and wait until it answers."""
        from farense_tui.engine.chat.server import server_for_run

        self.close()
        server = server_for_run(run_dir, checkpoint)
        self.server, self.label = server, f"{run_dir.name}:{checkpoint}"
        return server.start()

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = None
