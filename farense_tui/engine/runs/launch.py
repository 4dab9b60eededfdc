"""Starting a run's engine on several ranks through MLX's own launcher (`mlx.launch`).

MLX does the transport (ring over TCP, JACCL over Thunderbolt 5, MPI); this module only builds the
launcher's command line, checks the hosts before training starts, and watches the ranks as one
group: rank 0 reports its exit code in a file (the launcher does not pass it on), and a group that
stops making progress (MLX's ring all_sum can hang: mlx issue 4475) is killed so the supervisor
restarts it from the last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from farense_tui.engine.errors import UserError
from farense_tui.engine.processes import EXIT_RANK_LOST, LAUNCHER, RANK_WATCH
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.run_folder import RunFolder

# after rank 0 ends well, how long the others get to end on their own (a stop leaves them in
# all_sum)
EXIT_GRACE_SECONDS = 1.0
LOST_GRACE_SECONDS = (
    10.0  # after rank 0 ends otherwise, how long the ranks' watchers get to say how each ended
)
HUNG = -signal.SIGKILL  # a group killed for hanging reads as killed to the diagnosis
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
BACKENDS = ("ring", "jaccl", "mpi")  # what farense-tui offers: TCP, Thunderbolt 5 RDMA, MPI
LAUNCH_BACKENDS = (
    "ring",
    "jaccl",
    "jaccl-ring",
    "mpi",
    "nccl",
)  # what a hostfile may name (mlx.launch's)
SEE_README = "see README, 'Training on several Macs'"
HOSTFILE_EXAMPLE = '[{"ssh": "mac1", "ips": ["10.0.0.1"]}, {"ssh": "mac2", "ips": ["10.0.0.2"]}]'


def read_hosts(path: str, backend: str = "") -> tuple[list[dict], str]:
    """(hosts, backend named in the file or "") of an mlx.launch hostfile, or a UserError naming the
    file, the line or key, and what was expected. `backend` is the one asked for, if the file names
    none."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; expected an mlx.launch hostfile (JSON), {SEE_README}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the hostfile: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); "
            f"expected an mlx.launch hostfile, {SEE_README}"
        ) from None
    named, hosts = "", data
    if isinstance(data, dict):
        if "hosts" not in data:
            raise UserError(
                f'{path}: no "hosts" key; expected {HOSTFILE_EXAMPLE} or {{"hosts": [...]}}'
            )
        hosts, named = data["hosts"], data.get("backend", "")
        if named not in ("", *LAUNCH_BACKENDS):
            raise UserError(
                f'{path}: "backend" is {named!r}; expected one of {", ".join(LAUNCH_BACKENDS)}'
            )
        envs = data.get("envs", [])
        if not isinstance(envs, list) or not all(isinstance(e, str) and "=" in e for e in envs):
            raise UserError(f'{path}: "envs" must be a list of "NAME=value" strings')
    if not isinstance(hosts, list) or not hosts:
        raise UserError(f"{path}: expected a non-empty list of hosts, e.g. {HOSTFILE_EXAMPLE}")
    for number, host in enumerate(hosts, 1):
        if (
            not isinstance(host, dict)
            or not isinstance(host.get("ssh"), str)
            or not host["ssh"].strip()
        ):
            raise UserError(
                f'{path}: host {number} needs an "ssh" name, e.g. {{"ssh": "mac2", "ips": '
                f'["10.0.0.2"]}}'
            )
        ips = host.get("ips", [])
        if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise UserError(
                f'{path}: host {number} ({host["ssh"]}): "ips" must be a list of IP addresses'
            )
        if (named or backend) == "ring" and not ips:
            raise UserError(
                f'{path}: host {number} ({host["ssh"]}) has no "ips": the ring backend connects to '
                f"IP "
                "addresses (mlx.distributed_config --auto-setup writes them)"
            )
    return hosts, named


def ranks_setting(text: str, folder: Path, backend: str = "ring") -> tuple[int, str]:
    """(ranks, hostfile) from what the Config screen's field holds: a whole number of ranks on this
    machine, or the path of an mlx.launch hostfile (relative to `folder`) good for `backend` unless
    it names its own. UserError when neither."""
    text = text.strip() or "1"
    if text.lstrip("+-").replace(".", "", 1).isdigit():
        if not text.isdigit() or int(text) < 1:
            raise UserError(
                f"ranks: {text} is not a whole number of 1 or more (or a hostfile's path)"
            )
        return int(text), ""
    path = Path(text).expanduser()
    path = path if path.is_absolute() else folder / path
    read_hosts(str(path), backend)
    return 1, str(path)


def describe_ranks(ranks: int, hosts: str, backend: str) -> str:
    """The ranks of a run in words ("2 ranks on this machine, ring"); "" for one rank on this
    machine."""
    if hosts:
        try:
            found, named = read_hosts(hosts)
        except UserError:
            return f"hosts from {hosts}, {backend}"
        return (
            f"{len(found)} ranks from {Path(hosts).name} "
            f"({', '.join(h['ssh'] for h in found)}), {named or backend}"
        )
    return f"{ranks} ranks on this machine, {backend}" if ranks > 1 else ""


def check_hosts(path: str, backend: str = "ring", timeout: float = 5.0) -> None:
    """Every host in the hostfile answers over SSH without a password, before any training
    starts."""
    hosts, _ = read_hosts(path, backend)
    for host in hosts:
        name = host["ssh"]
        if name in LOCAL_HOSTS:
            continue
        try:
            done = subprocess.run(
                [
                    "ssh",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    f"ConnectTimeout={int(timeout)}",
                    name,
                    "true",
                ],
                capture_output=True,
                text=True,
                timeout=timeout + 5,
            )
            why = done.stderr.strip().splitlines()[-1] if done.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = str(exc)
        if why:
            raise UserError(
                f"host {name} (from {path}) cannot be reached over SSH without a password: {why}. "
                f"Set up SSH keys first; {SEE_README}"
            )


def free_port(count: int) -> int:
    """A first port with `count` free ports after it: the ring backend listens on port + rank, and
    other runs or tests on this machine may hold mlx.launch's fixed default."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count < 65536 and all(_free(first + i) for i in range(count)):
            return first
    raise UserError("no free TCP ports on 127.0.0.1 for the ranks")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def launch_command(cfg: RunConfig, run_dir: Path) -> list[str]:
    """mlx.launch running the engine process on every rank, with this Python (the same path on every
    host)."""
    cmd = [sys.executable, "-m", LAUNCHER, "--python", sys.executable]
    if cfg.hosts:
        hosts, named = read_hosts(cfg.hosts, cfg.backend)
        cmd += ["--hostfile", cfg.hosts, "--backend", named or cfg.backend]
        count = len(hosts)
    else:
        cmd += ["--hosts", "127.0.0.1", "-n", str(cfg.ranks), "--backend", cfg.backend]
        count = cfg.ranks
    engine = ["-m", RANK_WATCH, str(run_dir)]  # each rank's engine, labelled
    return cmd + ["--starting-port", str(free_port(count)), "--", *engine]


def run_ranks(cfg: RunConfig, run_dir: Path, log, env: dict) -> int:
    """Run all ranks until rank 0 ends, a rank dies, or none makes progress for cfg.hang_timeout
    seconds while training; rank 0's exit code, or HUNG/-SIGKILL when it never said one."""
    exit_file = RunFolder(run_dir).engine_exit  # rank 0's exit code, written as it ends
    exit_file.unlink(missing_ok=True)
    # Its own process group: the launcher does not kill a rank that is still running when rank 0
    # ends, and a hang can only be broken from outside.
    proc = subprocess.Popen(
        launch_command(cfg, run_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        process_group=0,
    )
    ended_at, started = None, time.time()
    while proc.poll() is None:
        time.sleep(0.2)
        if exit_file.exists():
            ended_at = ended_at or time.monotonic()
            if time.monotonic() - ended_at > _grace(exit_file):
                break
        elif is_hung(run_dir, cfg.hang_timeout, started):
            log.write(
                f"farense: no progress for {cfg.hang_timeout:.0f} s while training: killing all "
                f"ranks\n".encode()
            )
            break
    _kill_group(proc)
    try:
        code = int(exit_file.read_text())
    except (OSError, ValueError):
        code = HUNG  # a rank died (the launcher then stops the rest) or the group hung
    return HUNG if code == EXIT_RANK_LOST else code


def _grace(exit_file: Path) -> float:
    try:
        ended_well = int(exit_file.read_text()) == 0
    except (OSError, ValueError):
        ended_well = False  # being written
    return EXIT_GRACE_SECONDS if ended_well else LOST_GRACE_SECONDS


def is_hung(run_dir: Path, timeout: float, started: float = 0.0) -> bool:
    """No event for `timeout` seconds while this launch's group (started at `started`: a state
    before it is a previous group's, and starting up may take long) says it is training."""
    path = RunFolder(run_dir).events
    try:
        quiet = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if quiet < timeout:
        return False
    states = [e for e in read_all(path) if e["type"] == "state"]
    # Paused, loading or saving may be slow.
    return bool(states) and states[-1]["state"] == "training" and states[-1]["time"] >= started


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
