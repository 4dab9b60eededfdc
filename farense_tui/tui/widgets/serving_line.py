"""The Chat screen's line for mlx-lm's server: starting…, then the URL and a curl example; hidden
when nothing is served. The App owns the server (tui/services/serve_session.py); this line starts
and stops it in a thread worker and shows what happened."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.widgets import Static

from farense_tui.engine.errors import UserError
from farense_tui.tui.cockpit import cockpit
from farense_tui.tui.messages import ServerEnded, ServerStarted


class ServingLine(Static):
    """Starts, shows and stops the App's adapter server for the chosen run checkpoint."""

    def __init__(self) -> None:
        super().__init__(id="serving", markup=False)

    def on_mount(self) -> None:
        self.display = cockpit(self).serving.running

    def start(self, run_dir: Path, checkpoint: str) -> None:
        self.update(f"starting mlx-lm's server for {run_dir.name}:{checkpoint}…")
        self.display = True
        self.start_serving(run_dir, checkpoint)

    def stop(self) -> None:
        cockpit(self).serving.close()
        self.post_message(ServerEnded())

    @work(
        thread=True,
        exclusive=True,
        group="serve",
        exit_on_error=False,
        description="start the adapter server",
    )
    def start_serving(self, run_dir: Path, checkpoint: str) -> None:
        try:
            server = cockpit(self).serving.start(run_dir, checkpoint)
        except UserError as exc:
            cockpit(self).serving.close()
            self.post_message(ServerEnded(str(exc)))
            return
        self.post_message(
            ServerStarted(cockpit(self).serving.label, server.url, server.curl_example())
        )

    @on(ServerStarted)
    def show_server(self, event: ServerStarted) -> None:
        self.update(f"serving {event.label} on {event.url} (F7 stops)\n{event.curl}")

    @on(ServerEnded)
    def hide_server(self, event: ServerEnded) -> None:
        self.display = False
        if event.error:
            self.notify(f"Serving failed: {event.error}", severity="error")
        else:
            self.notify("Server stopped")
