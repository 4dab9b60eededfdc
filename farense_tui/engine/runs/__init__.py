"""A run seen from outside the engine: its folder, config, events, commands, status fold, checkpoints on disk and supervisor; no MLX."""

from farense_tui.engine.runs.folder import (
    RunInfo, create_run, find_run, info, is_alive, list_runs, resume, start,
)

__all__ = ["RunInfo", "create_run", "find_run", "info", "is_alive", "list_runs", "resume", "start"]
