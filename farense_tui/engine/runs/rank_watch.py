"""One data-parallel rank's watcher: `python -m farense_tui.engine.runs.rank_watch RUN_DIR`, what
mlx.launch starts on every host in place of the engine process itself.

Ours because mlx.launch merges the ranks' output unlabelled and says how a rank ended only as a
warning in words. The watcher runs the rank's engine process, labels each line of its output with
the rank, and when the engine ends writes one line with its fate: exit code or signal, pid, host,
and the kernel's out-of-memory kills on that host while it ran. Both reach the supervisor through
the launcher's output (engine.log), over SSH too, so the diagnosis (diagnosis.py) can read each
rank's own evidence and name the rank that died. No MLX here: it must outlive an engine that Metal
aborts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass

from farense_tui.engine.machine.oom_killer import kernel_oom_kills
from farense_tui.engine.processes import ENGINE, WATCHER_ENV

FATE = "farense: rank ended "  # + JSON, the last line a watcher writes


@dataclass(frozen=True)
class RankFate:
    """How one rank's engine process ended, as its watcher saw it."""

    rank: int
    code: int  # exit code, or minus the signal that ended it
    pid: int = 0
    host: str = ""
    oom_kills: int | None = (
        None  # the kernel's OOM kills on its host while it ran; None where unknown
    )

    @property
    def what(self) -> str:
        """ "rank 1 (pid 4242 on mac2) died with SIGKILL" and the like."""
        where = f" (pid {self.pid} on {self.host})" if self.pid else ""
        how = (
            f"died with {signal.Signals(-self.code).name}"
            if self.code < 0
            else f"exited with code {self.code}"
        )
        return f"rank {self.rank}{where} {how}"


def label(rank: int | str) -> str:
    return f"[rank {rank}] "


def rank_lines(log: str, rank: int) -> str:
    """The lines of `log` (engine.log) that came from `rank`'s engine."""
    mark = label(rank)
    return "".join(
        line[len(mark) :] for line in log.splitlines(keepends=True) if line.startswith(mark)
    )


def read_fates(log: str) -> list[RankFate]:
    """Every rank's fate in `log`, in the order they were written (the first to end comes first)."""
    fates = []
    for line in log.splitlines():
        if line.startswith(FATE):
            try:
                fates.append(RankFate(**json.loads(line[len(FATE) :])))
            except (ValueError, TypeError):
                continue  # a line cut short by a kill
    return fates


def _rank() -> str:
    # ring and JACCL ranks get MLX_RANK from mlx.launch; MPI ranks get Open MPI's.
    return os.environ.get("MLX_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or "?"


def main(argv: list[str]) -> int:
    rank = _rank()
    kills_before = kernel_oom_kills()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", WATCHER_ENV: str(os.getpid())}
    engine = subprocess.Popen(
        [sys.executable, "-m", ENGINE, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the launcher ends a rank this way
        signal.signal(sig, lambda number, _frame: engine.send_signal(number))
    out, mark = sys.stdout.buffer, label(rank).encode()
    for line in engine.stdout:
        out.write(mark + line + (b"" if line.endswith(b"\n") else b"\n"))
        out.flush()
    code = engine.wait()
    kills = kernel_oom_kills()
    fate = RankFate(
        int(rank) if rank.isdigit() else -1,
        code,
        engine.pid,
        socket.gethostname(),
        kills - kills_before if kills is not None and kills_before is not None else None,
    )
    out.write(f"{FATE}{json.dumps(asdict(fate))}\n".encode())
    out.flush()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
