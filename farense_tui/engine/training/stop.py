"""StopTraining: how a command or a guard, deep inside a step, ends the run with an exit code
(processes.py) after it has said why in the run's events."""


class StopTraining(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code
