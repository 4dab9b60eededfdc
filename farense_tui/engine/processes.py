"""The engine's processes and what passes between them: their module names (each runs as
`python -m MODULE FOLDER`), the environment variables one sets for the next, the exit codes the
engine ends with and the lines a rank prints for its supervisor to read.

One module, imported by the side that starts a process and by the side that runs in it (runs/ and
training/ alike), so neither reaches into the other for a constant.
"""

SUPERVISOR = "farense_tui.engine.runs.supervisor"  # one per run: restarts the engine, recovers
ENGINE = "farense_tui.engine.training.engine_process"  # trains the run
RANK_WATCH = "farense_tui.engine.runs.rank_watch"  # one per data-parallel rank, around its engine
LAUNCHER = "farense_tui.engine.training.launcher"  # mlx.launch without its busy polling
QUEUE = "farense_tui.engine.runs.queue"  # runs a group's runs one after another
EVALUATION = "farense_tui.engine.evaluate.process"  # one evaluation of a run's adapter
EXPORT = "farense_tui.engine.export.process"  # one export of a run's adapter
OPENAI_SERVER = "farense_tui.engine.chat.openai_server"  # an adapter served over HTTP

HOME_ENV = "FARENSE_HOME"  # the home folder (paths.py), passed on to every detached process
SUPERVISOR_ENV = "FARENSE_SUPERVISOR_PID"  # the engine stops when its parent is no longer this one
WATCHER_ENV = "FARENSE_RANK_WATCHER"  # tells the engine its parent is a rank's watcher
NICE_ENV, NICE = "FARENSE_ENGINE_NICE", "5"  # added to the engine's niceness; 0 keeps it

EXIT_DONE = 0  # finished, stopped by the user, or early-stopped
EXIT_FAILED = 1  # a failure the engine already explained in the run's events
EXIT_OVER_BUDGET = (
    75  # memory over the profile's budget or an allocation failed: downshift and resume
)
EXIT_SWITCH = 76  # the user asked for another profile: restart with it
EXIT_RANK_LOST = (
    77  # a data-parallel rank's launcher ended under it: another rank died; restart the group
)

ERROR_LINE = "farense: error "  # how a rank other than 0 prints an error event, for the diagnosis
