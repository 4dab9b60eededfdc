"""The Export dialog follows the export job's events and can cancel it (engine/export/job.py)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Log, Select

from farense_tui.tui.dialogs.export import ExportDialog
from tests.export_helpers import run_with_adapter
from tests.tui.conftest import wait_until
from tests.tui.host import CockpitHost


class Host(CockpitHost):
    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def on_mount(self) -> None:
        self.push_screen(ExportDialog(self.run_dir))


def ended(log: Log, since: int = 0) -> bool:
    return any(line.startswith(("✓", "✗")) for line in log.lines[since:])


async def test_the_dialog_logs_the_jobs_steps_and_its_check(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    app = Host(run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        dialog.query_one("#route", Select).value = "peft"
        dialog.query_one("#export", Button).press()
        await pilot.pause(0.1)
        assert dialog.busy and not dialog.query_one("#cancel", Button).disabled
        await pilot.press("escape")  # refused while the export runs: it says how to cancel
        assert app.screen is dialog
        log = dialog.query_one(Log)
        await wait_until(pilot, lambda: ended(log), 90, "the export")
        out = run_dir / "exports" / "best-peft"
        assert f"· exporting {run_dir.name}:best as peft → {out}" in log.lines
        assert log.lines[-2].startswith("✓ W + (alpha/r)·B·A vs fused"), log.lines
        assert log.lines[-1].startswith("next: PeftModel.from_pretrained("), log.lines
        assert not dialog.busy and dialog.query_one("#cancel", Button).disabled
        await pilot.press("escape")
        assert app.screen is not dialog


async def test_ctrl_x_cancels_the_export_and_nothing_is_written(tiny_model_dir, tiny_data):
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    app = Host(run_dir)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = app.screen
        dialog.query_one("#route", Select).value = "gguf"
        dialog.query_one("#export", Button).press()
        await pilot.press("ctrl+x")
        log = dialog.query_one(Log)
        await wait_until(pilot, lambda: ended(log), 90, "the cancelled export")
        assert log.lines[-1] == "✗ export cancelled; nothing was written", log.lines
        assert not (run_dir / "exports" / "best-gguf").exists()
        assert not dialog.busy
