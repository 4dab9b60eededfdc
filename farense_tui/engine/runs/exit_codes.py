"""How the engine process tells its supervisor why it ended (the process exit code)."""

EXIT_DONE = 0  # finished, stopped by the user, or early-stopped
EXIT_FAILED = 1  # a failure the engine already explained in the run's events
EXIT_OVER_BUDGET = 75  # memory over the profile's budget or an allocation failed: downshift and resume
EXIT_SWITCH = 76  # the user asked for another profile: restart with it
EXIT_RANK_LOST = 77  # a data-parallel rank's launcher ended under it: another rank died; restart the group
