"""Time the cockpit's screen switches in a real terminal: tmux, keys sent, the pane read back.

The real `farense-tui` runs in a detached tmux session of a given size (its own tmux server,
so nothing else's sessions or sizes interfere) with FARENSE_HOME pointing at a temporary home
(profiles/ and data/ copied from the repo, the repo's models/ linked, an empty runs/). One tmux
control-mode client sends the keys and reads the pane: a capture costs ~0.1 ms there, against
several ms for a `tmux capture-pane` process, so polling every 2 ms leaves the CPU to the app.

- first frame: from launch to a screen's text in the pane; the first launch and `--launches`
  more cold starts of each checkout (alternating), median and max;
- first visits: the first switch to each screen (it is composed then), reported apart;
- switches: keys 2 3 4 1 pressed `--cycles` times, each timed from send-keys to the target
  screen's text in the pane; p50/p90/p99/max in ms;
- app CPU ms/switch: the app process's CPU time over all those switches, per switch (with a run
  training this includes tailing it): on a loaded machine wall times swell, this much less.

`--training` also measures while a run trains (demo model, `farense-tui train --detach`) and the
cockpit tails it. `--app-root DIR` (repeatable) measures another checkout's farense_tui
(PYTHONPATH=DIR), so a before/after comparison runs in one go: every checkout runs in its own
pane at the same time and each key goes to each of them in turn, so a change in the machine's
load (the CPU is shared) hits all of them alike. Each app's CPU then also counts its idle time
while the others switch.

    git -C /work/main worktree add /work/wt-before 3651225
    python bench/screen_switch.py --training --app-root /work/wt-before --app-root .

`--past-runs runs/` starts the home with this checkout's runs (weights left out), as a user's
cockpit starts: listing and attaching to them is part of what competes with the first frame.

Prints Markdown table rows; record the machine's load beside them (the script prints `uptime`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # run this script with the venv's python
DEMO = "smollm2-135m-instruct"

MARKERS = {
    "config": ("Start ▶",),
    "training": ("Runs (a attach",),
    "monitor": ("loss by step", "no run attached"),
    "chat": ("top-p",),
}
"""Text only that screen shows (its body, not the mode bar every screen has)."""
KEYS = {"1": "config", "2": "training", "3": "monitor", "4": "chat"}
CYCLE = ("2", "3", "4", "1")
POLL = 0.002


class Pane:
    """A tmux server of our own running one command in a window of a fixed size.

    Commands go through a control-mode client (`tmux -C`), which answers each one between
    `%begin` and `%end` lines.
    """

    def __init__(self, size: tuple[int, int], command: list[str], env: dict[str, str]) -> None:
        self.socket = f"farense-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.first_frame: float | None = None  # seconds from launch, set by `launch`
        cols, rows = size
        env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        self.started = time.perf_counter()
        self._tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "bench",
            "-x",
            str(cols),
            "-y",
            str(rows),
            *env_args,
            "--",
            *command,
        )
        self.client = subprocess.Popen(
            ["tmux", "-L", self.socket, "-C", "attach", "-t", "bench"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        try:
            self._read_block("attach")  # the client's own attach command answers first
            # The control client must not resize the window, and its output feed is not needed.
            self.command("set-option -t bench window-size manual")
            self.command("set-option -t bench remain-on-exit on")
            self.command("refresh-client -f no-output")
            shown = self.command("display-message -p -t bench '#{window_width}x#{window_height}'")
            assert shown == [f"{cols}x{rows}"], f"the window is {shown}, not {cols}x{rows}"
            self.pid = int(self.command("display-message -p -t bench '#{pane_pid}'")[0])
        except BaseException:
            self.close()
            raise

    def _tmux(self, *args: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, *args], check=True)

    def command(self, line: str) -> list[str]:
        """Run one tmux command through the control client; its output lines."""
        self.client.stdin.write(line + "\n")
        self.client.stdin.flush()
        return self._read_block(line)

    def _read_block(self, line: str) -> list[str]:
        out: list[str] = []
        inside = False
        while True:
            text = self.client.stdout.readline()
            if not text:
                raise RuntimeError("the tmux control client closed")
            text = text.rstrip("\n")
            if not inside:
                inside = text.startswith("%begin ")
                continue
            if re.match(r"%(end|error) \d+ \d+ \d+$", text):
                if text.startswith("%error"):
                    raise RuntimeError(f"tmux {line!r}: {out}")
                return out
            out.append(text)

    def text(self) -> str:
        return "\n".join(self.command("capture-pane -p -t bench"))

    def cpu_seconds(self) -> float:
        """CPU time the app in the pane has used so far (user + system)."""
        import psutil

        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def keys(self, key: str) -> None:
        self.command(f"send-keys -t bench {key}")

    def wait_for(self, screen: str, timeout: float = 10.0) -> float:
        """Seconds until `screen`'s text is in the pane (polling every POLL s); raises on
        timeout."""
        start = time.perf_counter()
        markers = MARKERS[screen]
        while True:
            text = self.text()
            if any(m in text for m in markers):
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise TimeoutError(
                    f"no {screen} screen after {timeout:.0f} s; the pane shows:\n{text}"
                )
            time.sleep(POLL)

    def close(self) -> None:
        try:
            self.client.stdin.close()
            self.client.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.client.kill()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], stderr=subprocess.DEVNULL)


# ---- a farense home and a run in it ------------------------------------------------------------


def make_home(repo: Path = REPO, past_runs: Path | None = None) -> Path:
    """A temporary farense home: profiles/ and data/ copied, models/ linked if it has the demo
    model; the run folders of `past_runs` copied without their weights (what listing runs reads)."""
    home = Path(tempfile.mkdtemp(prefix="farense-bench-"))
    shutil.copytree(repo / "profiles", home / "profiles")
    shutil.copytree(repo / "data", home / "data")
    (home / "runs").mkdir()
    for run in sorted(past_runs.iterdir()) if past_runs else ():
        if (run / "config.toml").exists():
            shutil.copytree(
                run, home / "runs" / run.name, ignore=shutil.ignore_patterns("*.safetensors")
            )
    if (repo / "models" / DEMO).is_dir():
        (home / "models").symlink_to(repo / "models")
    else:
        (home / "models").mkdir()
    return home


def farense(home: Path, *args: str, app_root: Path | None = None, **popen) -> subprocess.Popen:
    env = {**os.environ, "FARENSE_HOME": str(home), "PYTHONPATH": str(app_root or REPO)}
    return subprocess.Popen([str(VENV_BIN / "farense-tui"), *args], env=env, **popen)


def ensure_demo(home: Path) -> None:
    if not (home / "models" / DEMO).is_dir():
        farense(home, "models", "fetch-demo", stdout=subprocess.DEVNULL).wait()


def start_run(home: Path, *args: str) -> Path:
    """`farense-tui train --detach ARGS` in `home`; its run folder once the run is created."""
    before = set((home / "runs").iterdir())
    code = farense(home, "train", "--detach", *args, stdout=subprocess.DEVNULL).wait()
    new = set((home / "runs").iterdir()) - before
    if code or len(new) != 1:
        raise RuntimeError(f"farense-tui train --detach {' '.join(args)} exited {code}")
    return new.pop()


def wait_for_steps(run_dir: Path, steps: int = 1, timeout: float = 600.0) -> None:
    """Until the run's events.jsonl has `steps` step events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_steps(run_dir) >= steps:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{run_dir.name}: fewer than {steps} steps after {timeout:.0f} s")


def count_steps(run_dir: Path) -> int:
    path = run_dir / "events.jsonl"
    return path.read_text().count('"type": "step"') if path.exists() else 0


def stop_run(run_dir: Path) -> None:
    """Kill the run's supervisor and engine (processes this script started)."""
    import psutil

    try:
        sup = psutil.Process(int((run_dir / "supervisor.pid").read_text()))
        procs = [*sup.children(recursive=True), sup]
    except (psutil.Error, OSError, ValueError):
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)


def cockpit_command(app_root: Path | None) -> tuple[list[str], dict[str, str]]:
    return [str(VENV_BIN / "farense-tui")], {"PYTHONPATH": str(app_root or REPO)}


# ---- the measurement ----------------------------------------------------------------------------


def measure(
    home: Path,
    roots: list[Path | None],
    size: tuple[int, int],
    cycles: int,
    settle: float,
    launches: int,
) -> list[dict]:
    """Every checkout in its own pane at once, the switches interleaved (a key to each in turn),
    so a change of machine load hits all of them alike; then `launches` more cold starts each,
    alternating, for the first frame."""
    panes: list[Pane] = []
    results = [{"first_frames": [], "first_visits": [], "switches": [], "cpu": 0.0} for _ in roots]
    try:
        for root, result in zip(roots, results):  # one at a time: a start-up is measured alone
            panes.append(launch(home, root, size))
            result["first_frames"].append(panes[-1].first_frame)
            time.sleep(settle)  # start-up work (hardware, run listing, a toast) is over
        for pane in panes:
            pane.keys("1")
            pane.wait_for("config")
        visited = {"config"}
        for cycle in range(cycles):
            if cycle == 1:  # the first visits are over: from here on, switches only
                for pane, result in zip(panes, results):
                    result["cpu"] = -pane.cpu_seconds()
            for key in CYCLE:
                for pane, result in zip(panes, results):
                    started = time.perf_counter()
                    pane.keys(key)
                    pane.wait_for(KEYS[key])
                    elapsed = time.perf_counter() - started
                    result["switches" if KEYS[key] in visited else "first_visits"].append(elapsed)
                visited.add(KEYS[key])
        for pane, result in zip(panes, results):
            result["cpu"] += pane.cpu_seconds()
    finally:
        for pane in panes:
            pane.close()
    for _ in range(launches):
        for root, result in zip(roots, results):
            pane = launch(home, root, size)
            pane.close()
            result["first_frames"].append(pane.first_frame)
    for result in results:
        result["cpu_per_switch"] = result.pop("cpu") / max(1, len(CYCLE) * (cycles - 1))
    return results


def launch(home: Path, app_root: Path | None, size: tuple[int, int]) -> Pane:
    """The cockpit started in a new pane, its first frame (s from launch) in `pane.first_frame`."""
    command, env = cockpit_command(app_root)
    env["FARENSE_HOME"] = str(home)
    pane = Pane(size, command, env)
    try:
        _wait_first_screen(pane)
    except BaseException:
        pane.close()
        raise
    pane.first_frame = time.perf_counter() - pane.started
    return pane


def _wait_first_screen(pane: Pane, timeout: float = 30.0) -> None:
    """Until any screen's text shows (start-up may go straight to Training)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        text = pane.text()
        if any(m in text for markers in MARKERS.values() for m in markers):
            return
        time.sleep(POLL)
    raise TimeoutError(f"no first frame after {timeout:.0f} s; the pane shows:\n{pane.text()}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


HEADER = (
    "| checkout | size | condition | first frame ms (median, max of n) | first visits ms (max) | "
    "switches | "
    "p50 ms | p90 ms | p99 ms | max ms | app CPU ms/switch "
    "|\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def row(label: str, size: tuple[int, int], condition: str, result: dict) -> str:
    ms = [s * 1000 for s in result["switches"]]
    visits = max(result["first_visits"], default=0.0) * 1000
    frames = [f * 1000 for f in result["first_frames"]]
    return (
        f"| {label} | {size[0]}x{size[1]} | {condition} | {statistics.median(frames):.0f}, "
        f"{max(frames):.0f} "
        f"of {len(frames)} | {visits:.0f} | {len(ms)} | {statistics.median(ms):.1f} | "
        f"{percentile(ms, 90):.1f} | "
        f"{percentile(ms, 99):.1f} | {max(ms):.1f} | {result['cpu_per_switch'] * 1000:.1f} |"
    )


def parse_size(text: str) -> tuple[int, int]:
    cols, rows = text.lower().split("x")
    return int(cols), int(rows)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", nargs="+", type=parse_size, default=[(80, 24), (120, 40)], metavar="COLSxROWS"
    )
    ap.add_argument(
        "--cycles", type=int, default=25, help="times through 2 3 4 1 (4 switches each)"
    )
    ap.add_argument("--training", action="store_true", help="also measure while a demo run trains")
    ap.add_argument(
        "--iters", type=int, default=400, help="length of that run (it is killed at the end)"
    )
    ap.add_argument(
        "--app-root",
        type=Path,
        action="append",
        dest="roots",
        help="a checkout whose farense_tui to run (repeatable; default: this one)",
    )
    ap.add_argument(
        "--settle", type=float, default=6.0, help="seconds after the first frame before measuring"
    )
    ap.add_argument(
        "--launches",
        type=int,
        default=4,
        help="more cold starts of each checkout for the first frame",
    )
    ap.add_argument(
        "--past-runs",
        type=Path,
        help="a runs/ folder whose runs the home starts with (a user's "
        "earlier runs: the cockpit lists them and attaches to the newest at start)",
    )
    args = ap.parse_args()
    if args.cycles < 2:
        ap.error("--cycles must be 2 or more (the first cycle holds the first visits)")
    roots = [r.resolve() for r in args.roots] if args.roots else [None]
    home = make_home(past_runs=args.past_runs)
    run_dir = None
    print(
        f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 "
        f"min), "
        f"{os.cpu_count()} CPUs; home {home}",
        flush=True,
    )
    print(HEADER, flush=True)
    try:
        conditions = ["idle", "training"] if args.training else ["idle"]
        for condition in conditions:
            if condition == "training":
                ensure_demo(home)
                run_dir = start_run(home, "--profile", "cpu", "--iters", str(args.iters))
                wait_for_steps(run_dir, 2)
            for size in args.sizes:
                results = measure(home, roots, size, args.cycles, args.settle, args.launches)
                ended = condition == "training" and count_steps(run_dir) >= args.iters
                for root, result in zip(roots, results):
                    label = str(root or REPO) + (
                        " (run ended during the measurement!)" if ended else ""
                    )
                    print(row(label, size, condition, result), flush=True)
    finally:
        if run_dir is not None:
            stop_run(run_dir)
        shutil.rmtree(home, ignore_errors=True)
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
