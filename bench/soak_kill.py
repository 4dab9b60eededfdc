"""Kill soak: `kill -9` of the engine or of the supervisor at a random moment, then resume; every
trial must end like the uninterrupted run.

Each trial trains the tiny test model (tests/tiny_model.py) through the real supervisor and engine
processes, with checkpoint writes slowed by the `checkpoint_pause` fault so kills land inside them.
The moment is drawn from three kinds: any time in the run, inside a checkpoint write, and inside
the same-step double save (a save-now sent right after a periodic checkpoint). After an engine
kill the supervisor resumes by itself; after a supervisor kill the orphaned engine saves and
stops, and the trial resumes the run as a user would (`runs.resume`). A trial passes when
  - it finishes with per-step losses and final adapter weights within 1e-4 of the uninterrupted run,
  - it never restarts below a checkpoint that was complete when the kill landed (never from 0),
  - nothing was downshifted (no recovery changed a setting; the config's batch is unchanged).

  python bench/soak_kill.py --trials 50            # results for BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mlx.core as mx  # noqa: E402

from farense_tui.engine import runs  # noqa: E402
from farense_tui.engine.profiles.profile import load_profile  # noqa: E402
from farense_tui.engine.runs import checkpoints, commands  # noqa: E402
from farense_tui.engine.runs.config import RunConfig  # noqa: E402
from farense_tui.engine.runs.events import read_all  # noqa: E402
from farense_tui.engine.training.faults import FAULTS_ENV  # noqa: E402

TOLERANCE = 1e-4
SETTINGS = dict(
    batch_size=2,
    grad_accumulation=2,
    iters=12,
    save_every=4,
    eval_every=4,
    warmup_steps=2,
    lora_layers=-1,
    learning_rate=1e-3,
    max_seq_length=256,
)
PAUSE = 0.15  # seconds at each stage of a checkpoint write
MOMENTS = ("any time", "inside a checkpoint write", "inside a same-step double save")


@dataclass
class Trial:
    number: int
    target: str  # "engine" or "supervisor"
    moment: str
    killed_at_step: int | None  # the last step event before the kill; None if it never landed
    saved_before_kill: int  # the newest complete checkpoint's step when the kill landed
    resumed_from: int | None  # first step trained after the kill, minus one
    loss_gap: float
    weight_gap: float
    downshifted: bool
    status: str
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.status == "finished"
            and self.loss_gap <= TOLERANCE
            and self.weight_gap <= TOLERANCE
            and not self.downshifted
            and (self.resumed_from is None or self.resumed_from >= self.saved_before_kill)
        )


def _events(run_dir: Path, kind: str | None = None) -> list[dict]:
    return [e for e in read_all(run_dir / "events.jsonl") if kind is None or e.get("type") == kind]


def _wait(predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.01)
    return None


def _engine_pid(run_dir: Path) -> int | None:
    import psutil

    try:
        pid = int((run_dir / "engine.pid").read_text())
        if "engine_process" in " ".join(psutil.Process(pid).cmdline()):
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def _start(cfg: RunConfig) -> Path:
    run_dir = runs.create_run(cfg)
    runs.start(run_dir)
    return run_dir


def _finish(run_dir: Path) -> str:
    _wait(lambda: not runs.is_alive(run_dir), 300)
    return runs.info(run_dir).status


def _outcome(run_dir: Path) -> tuple[dict[int, float], dict]:
    losses = {
        e["step"]: e["loss"] for e in _events(run_dir, "step")
    }  # after a resume the later wins
    return losses, mx.load(str(run_dir / "final" / "adapters.safetensors"))


def _land_kill(run_dir: Path, moment: str, rng: random.Random) -> bool:
    """Wait for the drawn moment; True once it has come (a run that ends first never gets it)."""
    engine_up = lambda: _engine_pid(run_dir) and _events(run_dir, "state")  # noqa: E731
    if not _wait(engine_up, 60):
        return False
    if moment == "any time":
        target_step = rng.randint(0, SETTINGS["iters"] - 1)
        _wait(
            lambda: (
                target_step == 0 or any(e["step"] >= target_step for e in _events(run_dir, "step"))
            ),
            120,
        )
        time.sleep(rng.uniform(0, 0.3))
        return True
    wanted = rng.choice(
        [s for s in range(SETTINGS["save_every"], SETTINGS["iters"], SETTINGS["save_every"])]
    )

    def writing():
        return any(
            e.get("state") == "saving" and f"step {wanted} (periodic)" in e.get("message", "")
            for e in _events(run_dir, "state")
        )

    if not _wait(writing, 120):
        return False
    if moment == "inside a checkpoint write":
        time.sleep(rng.uniform(0, 4 * PAUSE))
        return True
    commands.send(
        run_dir, "save"
    )  # read before the next step: the same step saved again over itself
    time.sleep(rng.uniform(0, 9 * PAUSE))
    return True


def run_trial(
    number: int, cfg: RunConfig, reference: tuple[dict, dict], rng: random.Random
) -> Trial:
    tic = time.monotonic()
    target, moment = rng.choice(("engine", "supervisor")), rng.choice(MOMENTS)
    run_dir = _start(cfg)
    killed_at, saved = None, 0
    if _land_kill(run_dir, moment, rng) and runs.is_alive(run_dir):
        found = checkpoints.latest_checkpoint(run_dir)
        saved = found[1].step if found else 0
        steps = _events(run_dir, "step")
        killed_at = steps[-1]["step"] if steps else 0
        before = len(_events(run_dir))
        pid_file = run_dir / ("engine.pid" if target == "engine" else "supervisor.pid")
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError, OSError):
            killed_at = None
    status = _finish(run_dir)
    if status not in (
        "finished",
        "failed",
    ):  # stopped by its orphaned engine, or dead: resume as a user would
        runs.resume(run_dir)
        status = _finish(run_dir)
    resumed_from = None
    if killed_at is not None:
        after = [e["step"] for e in _events(run_dir)[before:] if e["type"] == "step"]
        resumed_from = after[0] - 1 if after and after[0] <= killed_at + 1 else None
    recoveries = _events(run_dir, "recovery")
    downshifted = any(r["from"] != r["to"] for r in recoveries) or (
        RunConfig.load(run_dir / "config.toml").profile.batch_size != cfg.profile.batch_size
    )
    loss_gap = weight_gap = float("inf")
    if status == "finished":
        losses, weights = _outcome(run_dir)
        ref_losses, ref_weights = reference
        if sorted(losses) == sorted(ref_losses):
            loss_gap = max(abs(losses[s] - ref_losses[s]) for s in ref_losses)
        weight_gap = max(mx.abs(weights[k] - ref_weights[k]).max().item() for k in ref_weights)
    return Trial(
        number,
        target,
        moment,
        killed_at,
        saved,
        resumed_from,
        loss_gap,
        weight_gap,
        downshifted,
        status,
        round(time.monotonic() - tic, 1),
    )


def run_soak(trials: int, model: Path, data: Path, seed: int = 0, log=print) -> list[Trial]:
    """The soak in the current FARENSE_HOME; the reference run first."""
    os.environ[FAULTS_ENV] = json.dumps({"checkpoint_pause": PAUSE})

    def cfg():
        return RunConfig(
            profile=load_profile("cpu").replace(**SETTINGS), model=str(model), data=str(data)
        )

    straight = _start(cfg())
    if _finish(straight) != "finished":
        raise RuntimeError(f"the uninterrupted run did not finish: {straight}")
    reference = _outcome(straight)
    rng = random.Random(seed)
    results = []
    for number in range(1, trials + 1):
        trial = run_trial(number, cfg(), reference, rng)
        log(
            f"trial {number:2d}: kill {trial.target:<10} {trial.moment:<31} at step "
            f"{trial.killed_at_step}, "
            f"saved {trial.saved_before_kill}, resumed from {trial.resumed_from}: {trial.status}, "
            f"loss gap {trial.loss_gap:.1e}, weight gap {trial.weight_gap:.1e}"
            f"{', DOWNSHIFTED' if trial.downshifted else ''} {'ok' if trial.ok else 'FAILED'} "
            f"({trial.seconds} s)"
        )
        results.append(trial)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from tests import tiny_model

    home = Path(tempfile.mkdtemp(prefix="soak-kill-"))
    try:
        shutil.copytree(REPO / "profiles", home / "profiles")
        (home / "runs").mkdir()
        os.environ["FARENSE_HOME"] = str(home)
        model = tiny_model.build(home / "models" / "tiny-llama")
        data = tiny_model.write_data(home / "data" / "tiny")
        tic = time.monotonic()
        results = run_soak(args.trials, model, data, args.seed)
        passed = sum(t.ok for t in results)
        landed = [t for t in results if t.killed_at_step is not None]
        early = sum(
            t.resumed_from is not None and t.resumed_from < t.saved_before_kill for t in results
        )
        print(
            f"\n{passed}/{len(results)} trials passed in {time.monotonic() - tic:.0f} s; "
            f"{len(landed)} kills landed ({sum(t.target == 'engine' for t in landed)} engine, "
            f"{sum(t.target == 'supervisor' for t in landed)} supervisor); worst loss gap "
            f"{max(t.loss_gap for t in results):.1e}, worst weight gap "
            f"{max(t.weight_gap for t in results):.1e}; "
            f"restarts from step 0 below a checkpoint: "
            f"{early}; "
            f"downshifted: {sum(t.downshifted for t in results)}"
        )
        for moment in MOMENTS:
            some = [t for t in results if t.moment == moment]
            print(f"  {moment}: {sum(t.ok for t in some)}/{len(some)} passed")
        return 0 if passed == len(results) else 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
