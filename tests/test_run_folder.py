"""The run folder's one type: its layout, and one resolver from a checkpoint name to an adapter
folder, with one refusal whoever asks (chat, evaluation, export, a child run). No MLX."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from farense_tui.engine import runs
from farense_tui.engine.errors import UserError
from farense_tui.engine.runs.run_folder import RunFolder, aside, staged, step_of
from farense_tui.engine.runs.training_state import TrainingState
from tests.engine_helpers import tiny_config


def _adapter(folder: Path, step: int | None = None) -> Path:
    folder.mkdir(parents=True)
    for name in ("adapters.safetensors", "adapter_config.json", "optimizer.safetensors"):
        (folder / name).write_text("x")
    if step is not None:
        TrainingState(step=step).save_in_checkpoint(folder)
    return folder


@pytest.fixture
def run(tmp_path) -> RunFolder:
    run_dir = runs.create_run(tiny_config(tmp_path / "model", tmp_path / "data"))
    return RunFolder(run_dir)


def test_the_layout(run):
    assert run.config.name == "config.toml" and run.events.name == "events.jsonl"
    assert (
        run.commands.name == "commands.jsonl" and run.training_state.name == "training_state.json"
    )
    assert run.checkpoint(40) == run.path / "checkpoints" / "step-0000040"
    assert staged(run.checkpoint(40)).name == ".tmp-step-0000040"
    assert (
        aside(run.checkpoint(40)).name == ".old-step-0000040"
        and aside(run.published("best")).name == ".old-best"
    )
    assert step_of(aside(run.checkpoint(40))) == 40
    assert run.load_config().run_id == run.name


def test_each_name_means_one_folder(run):
    _adapter(run.published("best"))
    _adapter(run.checkpoint(4), step=4)
    _adapter(run.checkpoint(8), step=8)
    (run.checkpoint(12)).mkdir()  # a folder a kill left half-written is offered but never "last"
    assert run.adapter_choices() == ["best", "12", "8", "4"]
    assert run.adapter("best") == run.published("best")
    assert run.adapter("8") == run.adapter("0008") == run.checkpoint(8)
    assert run.adapter("last") == run.checkpoint(8)
    with pytest.raises(
        UserError,
        match=r"--checkpoint 'last': expected best, final or a step number "
        r"\(run .* has: best, 12, 8, 4\)",
    ):
        run.adapter("last", last=False)
    with pytest.raises(UserError, match=r"no adapter 'final' \(available: best, 12, 8, 4\)"):
        run.adapter("final")


def test_chat_evaluation_export_and_a_child_run_refuse_alike(run):
    from farense_tui.engine.chat.service import target_for_run
    from farense_tui.engine.evaluate.job import EvalSettings, check
    from farense_tui.engine.export.plan import plan_export
    from farense_tui.engine.runs.lineage import find_parent

    def refusal(ask) -> str:
        with pytest.raises(UserError) as caught:
            ask()
        return str(caught.value)

    askers = {
        "chat": lambda name: target_for_run(run.path, name),
        "eval": lambda name: check(EvalSettings(run_dir=str(run.path), checkpoint=name)),
        "export": lambda name: plan_export(run.path, "peft", checkpoint=name),
        "child": lambda name: find_parent(f"{run.path}:{name}"),
    }
    none_yet = {refusal(lambda: ask("best")) for ask in askers.values()}
    assert none_yet == {
        f"run {run.name} has no adapter yet: train it first (or let it save a checkpoint)"
    }
    _adapter(run.published("best"))
    missing = {refusal(lambda: ask("99")) for ask in askers.values()}
    assert missing == {f"run {run.name} has no adapter '99' (available: best)"}


def test_it_needs_no_mlx():
    code = (
        "import sys; import farense_tui.engine.runs.run_folder, "
        "farense_tui.engine.runs.checkpoints; "
        "assert not any(m.startswith('mlx') for m in sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
