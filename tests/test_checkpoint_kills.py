"""A kill at any stage of a checkpoint write leaves a checkpoint to resume from (never step 0), and
a resume under changed settings is refused, naming what changed."""

from __future__ import annotations

import mlx.core as mx
import pytest

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.profiles.profile import load_profile
from farense_tui.engine.runs import checkpoints
from farense_tui.engine.runs.config import RunConfig
from farense_tui.engine.runs.training_state import TrainingState
from farense_tui.engine.training.checkpoint_writer import write_checkpoint


class Killed(Exception):
    """Stands for a kill -9 landing at a stage of the write."""


def save(
    run_dir, step: int, value: float, kill_at: str | None = None, cfg: RunConfig | None = None
):
    def pause(stage: str) -> None:
        if stage == kill_at:
            raise Killed(stage)

    key = (
        {}
        if cfg is None
        else dict(config_hash=cfg.training_hash(), training_key=cfg.training_key())
    )
    write_checkpoint(
        run_dir,
        {"w": mx.full((2,), value)},
        {},
        {"m": mx.ones(2)},
        TrainingState(step=step, **key),
        pause=pause,
    )


@pytest.mark.parametrize(
    "stage", ["adapter written", "folder written", "old folder moved aside", "folder renamed in"]
)
def test_same_step_saved_twice_killed_at_any_stage_still_resumes_that_step(tmp_path, stage):
    (tmp_path / "checkpoints").mkdir()
    save(tmp_path, 4, 1.0)
    save(tmp_path, 8, 2.0)
    with pytest.raises(Killed):
        save(tmp_path, 8, 2.0, kill_at=stage)  # a stop right after the periodic save of step 8
    folder, state = checkpoints.latest_checkpoint(tmp_path)
    assert state.step == 8 and state.checkpoint == "step-0000008"
    checkpoints.clean_partial(tmp_path)  # what the resuming engine does first
    folder, state = checkpoints.latest_checkpoint(tmp_path)
    assert (
        folder.name == "step-0000008"
        and mx.load(str(folder / "adapters.safetensors"))["w"][0].item() == 2.0
    )
    assert not list((tmp_path / "checkpoints").glob(".*"))


def test_a_newer_complete_folder_wins_over_a_record_left_behind(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    save(tmp_path, 4, 1.0)
    with pytest.raises(Killed):
        save(
            tmp_path, 8, 2.0, kill_at="folder renamed in"
        )  # killed before training_state.json moved on
    assert TrainingState.load(tmp_path).step == 4
    assert checkpoints.latest_checkpoint(tmp_path)[1].step == 8


def test_resume_refused_naming_base_precision_and_edited_data(farense_home, tiny_data):
    cfg = RunConfig(profile=load_profile("cpu"), model="m", data=str(tiny_data))
    run_dir = runs.create_run(cfg)
    save(run_dir, 4, 1.0, cfg=cfg)

    changed = RunConfig.load(run_dir / "config.toml")
    changed.profile = changed.profile.replace(base_precision="4bit")
    changed.save(run_dir / "config.toml")
    with (tiny_data / "train.jsonl").open("a") as fh:
        fh.write('{"text": "one more line"}\n')
    with pytest.raises(UserError) as refused:
        runs.resume(run_dir)
    message = str(refused.value)
    assert "cannot resume from step-0000004 exactly" in message
    assert "base_precision float32 → 4bit" in message
    assert f"{tiny_data}/train.jsonl was edited since the checkpoint" in message
    assert not runs.is_alive(run_dir)  # refused before anything started
