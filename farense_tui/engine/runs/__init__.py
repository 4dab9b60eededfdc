"""A run seen from outside the engine, no MLX: its folder's layout (run_folder.py), config, events,
commands, status fold and curves, checkpoints on disk, supervisor, groups and queue."""

from farense_tui.engine.runs.folder import (
    RunInfo,
    create_run,
    find_run,
    info,
    is_alive,
    list_runs,
    resume,
    start,
)

__all__ = ["RunInfo", "create_run", "find_run", "info", "is_alive", "list_runs", "resume", "start"]
