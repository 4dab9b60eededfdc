"""The fused export on a 4-bit base (the tiny model stored by mlx-lm, group 32): dequantized by
default, it answers the run's check questions as base + adapter does; a fuse that loses the
adapter is refused; the folder carries the run's system message, which `chat --model` sends."""

from __future__ import annotations

import json

import pytest
from mlx.utils import tree_unflatten
from mlx_lm.utils import load

from farense_tui.engine.errors import UserError
from farense_tui.engine.export import fused
from farense_tui.engine.export.compare import probes
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.export.samples import check_conversations
from tests.export_helpers import run_with_adapter
from tests.tiny_model import build_quantized

SYSTEM = "És um assistente sobre o Farense."


@pytest.fixture
def quantized_run(tmp_path, tiny_data):
    rows = [json.loads(line) for line in (tiny_data / "train.jsonl").read_text().splitlines()]
    (tiny_data / "train.jsonl").write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "system", "content": SYSTEM}, *r["messages"]]},
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )
    )
    model_dir = build_quantized(tmp_path / "q4", bits=4, group_size=32)
    return run_with_adapter(model_dir, tiny_data), model_dir, tiny_data


def test_fused_4bit_base_answers_like_base_plus_adapter(quantized_run):
    run_dir, model_dir, data = quantized_run
    result = run_export(plan_export(run_dir, "fused"))
    config = json.loads((result.path / "config.json").read_text())
    assert "quantization" not in config  # dequantized by default
    assert json.loads(result.provenance.read_text())["dequantize"] is True
    conversations = check_conversations(data)
    assert len(conversations) == 5
    fused_model, tokenizer = load(str(result.path))
    adapted, _ = load(str(model_dir), adapter_path=str(run_dir / "best"))
    base, _ = load(str(model_dir))
    ours, theirs = (
        probes(fused_model, tokenizer, conversations),
        probes(adapted, tokenizer, conversations),
    )
    assert [p.tokens for p in ours] == [p.tokens for p in theirs]
    assert [p.tokens for p in probes(base, tokenizer, conversations)] != [p.tokens for p in theirs]
    assert "5/5 greedy answers identical" in result.check


def test_a_fuse_that_drops_the_adapter_is_refused(quantized_run, monkeypatch):
    run_dir = quantized_run[0]

    def base_alone(model, dequantize):
        model.update_modules(
            tree_unflatten([(n, m.linear) for n, m in model.named_modules() if hasattr(m, "fuse")])
        )

    monkeypatch.setattr(fused, "fuse_layers", base_alone)
    plan = plan_export(run_dir, "fused")
    with pytest.raises(
        UserError, match=r"does not answer like base \+ adapter \(fused vs base\+adapter: [0-4]/5"
    ):
        run_export(plan)
    assert not plan.out.exists()


def test_keep_quantized_is_only_for_fused(quantized_run):
    with pytest.raises(UserError, match="--keep-quantized is for --to fused"):
        plan_export(quantized_run[0], "gguf", keep_quantized=True)


def test_chat_model_on_a_fused_export_sends_the_training_system_message(quantized_run, capsys):
    from farense_tui.cli.main import main

    run_dir = quantized_run[0]
    folder = run_export(plan_export(run_dir, "fused")).path
    assert (folder / "system_message.txt").read_text() == SYSTEM
    answers = []
    for command in (["chat", "--run", run_dir.name], ["chat", "--model", str(folder)]):
        assert (
            main(
                [
                    *command,
                    "Quem foi Hassan Nader?",
                    "--json",
                    "--max-tokens",
                    "8",
                    "--temperature",
                    "0",
                ]
            )
            == 0
        )
        answers.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert answers[0]["system"] == answers[1]["system"] == SYSTEM
    assert answers[0]["answer"] == answers[1]["answer"]
