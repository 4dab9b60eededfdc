"""Each export route on the tiny model: what comes out answers like what went in, and says where
it came from; bad input is a clear message with nothing left under the final name."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten
from mlx_lm.utils import load

from farense_tui.engine.errors import UserError
from farense_tui.engine.export.compare import probe, prompt_tokens
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.models.gguf_import import convert_gguf
from farense_tui.engine.runs.events import read_all
from farense_tui.engine.runs.status import describe_event
from tests.export_helpers import run_with_adapter, traditional_copy

QUESTION = [{"role": "user", "content": "Quem foi Hassan Nader?"}]


@pytest.fixture
def run_dir(tiny_model_dir, tiny_data) -> Path:
    return run_with_adapter(tiny_model_dir, tiny_data)


def with_adapter(run_dir: Path, model_dir: Path):
    return load(str(model_dir), adapter_path=str(run_dir / "best"))


def test_fused_loads_in_mlx_lm_and_answers_like_base_plus_adapter(
    run_dir, tiny_model_dir, farense_home
):
    result = run_export(plan_export(run_dir, "fused"))
    assert result.path == farense_home / "models" / f"{run_dir.name}-best"
    fused, tokenizer = load(str(result.path))
    adapted, _ = with_adapter(run_dir, tiny_model_dir)
    tokens = prompt_tokens(tokenizer, QUESTION)
    base, _ = load(str(tiny_model_dir))
    assert probe(fused, tokenizer, tokens).tokens == probe(adapted, tokenizer, tokens).tokens
    assert (
        probe(base, tokenizer, tokens).tokens != probe(adapted, tokenizer, tokens).tokens
    )  # the adapter matters
    assert "5/5 greedy answers identical" in result.check

    provenance = json.loads(result.provenance.read_text())
    assert provenance["run"] == run_dir.name and provenance["checkpoint"] == "best"
    assert (
        provenance["base_model"] == str(tiny_model_dir) and len(provenance["settings_hash"]) == 16
    )
    export = [e for e in read_all(run_dir / "events.jsonl") if e["type"] == "export"]
    assert len(export) == 1 and export[0]["path"] == str(result.path)
    assert describe_event(export[0]).startswith("exported best as fused")


@pytest.mark.parametrize("traditional", [False, True], ids=["hf-rope", "rope-traditional"])
def test_gguf_read_back_gives_the_fused_logits(tiny_model_dir, tiny_data, tmp_path, traditional):
    model_dir = (
        traditional_copy(tiny_model_dir, tmp_path / "trad") if traditional else tiny_model_dir
    )
    run_dir = run_with_adapter(model_dir, tiny_data)
    result = run_export(plan_export(run_dir, "gguf"))
    gguf = result.path / "model-f16.gguf"
    assert sorted(p.name for p in result.path.iterdir()) == ["model-f16.gguf", "provenance.json"]

    convert_gguf(gguf, tmp_path / "read-back")
    again, again_tok = load(str(tmp_path / "read-back"))
    again.set_dtype(mx.float32)
    adapted, tokenizer = with_adapter(run_dir, model_dir)
    tokens = prompt_tokens(tokenizer, QUESTION)
    assert prompt_tokens(again_tok, QUESTION) == tokens  # the GGUF's vocabulary tokenizes the same
    ours, theirs = probe(adapted, tokenizer, tokens), probe(again, again_tok, tokens)
    scale = mx.abs(ours.logits).max().item()
    assert mx.abs(ours.logits - theirs.logits).max().item() < 2e-3 * scale  # float16 weights
    assert ours.tokens == theirs.tokens


def peft_rebuilt(folder: Path, base_weights: dict) -> dict:
    config = json.loads((folder / "adapter_config.json").read_text())
    tensors = mx.load(str(folder / "adapter_model.safetensors"))
    out = {}
    for key in (k for k in tensors if k.endswith(".lora_A.weight")):
        stem = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        A, B = tensors[key], tensors[key.replace("lora_A", "lora_B")]
        out[f"{stem}.weight"] = base_weights[f"{stem}.weight"] + (
            config["lora_alpha"] / config["r"]
        ) * (B @ A)
    return out


def test_peft_tensors_reproduce_the_fused_weights(run_dir, tiny_model_dir):
    peft = run_export(plan_export(run_dir, "peft")).path
    config = json.loads((peft / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8 and config["lora_alpha"] == 8 * 16.0
    assert config["target_modules"] == ["down_proj", "k_proj", "o_proj", "q_proj", "v_proj"]
    assert "layers_to_transform" not in config  # every layer
    shapes = {k: v.shape for k, v in mx.load(str(peft / "adapter_model.safetensors")).items()}
    assert shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] == (
        8,
        64,
    )  # (r, in)
    assert shapes["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"] == (
        64,
        8,
    )  # (out, r)

    fused = dict(
        tree_flatten(load(str(run_export(plan_export(run_dir, "fused")).path))[0].parameters())
    )
    base = dict(tree_flatten(load(str(tiny_model_dir))[0].parameters()))
    rebuilt = peft_rebuilt(peft, base)
    assert len(rebuilt) == 2 * 5
    for name, weight in rebuilt.items():
        assert mx.allclose(weight, fused[name], atol=1e-5).item(), name
        assert not mx.allclose(weight, base[name], atol=1e-3).item(), name  # the adapter changed it


def test_peft_of_a_gguf_imported_model_targets_hugging_face_row_order(
    tiny_model_dir, tiny_data, tmp_path
):
    """q/k of a rope_traditional model are in llama.cpp's order; PEFT's B rows go back to Hugging
    Face's."""
    from farense_tui.engine.export.peft import hf_row_order

    model_dir = traditional_copy(tiny_model_dir, tmp_path / "trad")
    run_dir = run_with_adapter(model_dir, tiny_data)
    result = run_export(plan_export(run_dir, "peft"))
    assert "max relative error" in result.check
    adapter = mx.load(str(run_dir / "best" / "adapters.safetensors"))
    peft = mx.load(str(result.path / "adapter_model.safetensors"))
    q = "model.layers.1.self_attn.q_proj"
    assert mx.array_equal(
        peft[f"base_model.model.{q}.lora_B.weight"], hf_row_order(adapter[f"{q}.lora_b"].T, 4)
    )
    v = "model.layers.1.self_attn.v_proj"
    assert mx.array_equal(peft[f"base_model.model.{v}.lora_B.weight"], adapter[f"{v}.lora_b"].T)
    error = float(result.check.rsplit(" ", 1)[-1])
    assert error < 1e-5


def test_ollama_modelfile_has_template_system_prompt_and_stops(tiny_model_dir, tiny_data):
    system = "És um assistente sobre o Farense."
    rows = [json.loads(line) for line in (tiny_data / "train.jsonl").read_text().splitlines()]
    (tiny_data / "train.jsonl").write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "system", "content": system}, *r["messages"]]},
                ensure_ascii=False,
            )
            + "\n"
            for r in rows
        )
    )
    run_dir = run_with_adapter(tiny_model_dir, tiny_data)
    result = run_export(plan_export(run_dir, "ollama"))
    modelfile = (result.path / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model-f16.gguf\n")
    assert f'SYSTEM """{system}"""' in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "{{ .Content }}<|im_end|>" in modelfile and "<|im_start|>assistant\n" in modelfile
    assert "template chatml matches" in result.check
    assert result.command == f"ollama create {run_dir.name}-best -f {result.path / 'Modelfile'}"


def test_bad_inputs_are_clear_and_leave_nothing(run_dir, tiny_model_dir, tiny_data, monkeypatch):
    from farense_tui.engine import runs
    from tests.engine_helpers import tiny_config

    empty = runs.create_run(tiny_config(tiny_model_dir, tiny_data))
    with pytest.raises(UserError, match="has no adapter yet"):
        plan_export(empty, "gguf")
    with pytest.raises(UserError, match=r"no adapter '99' \(available: best\)"):
        plan_export(run_dir, "peft", checkpoint="99")
    with pytest.raises(UserError, match="expected best, final or a step number"):
        plan_export(run_dir, "peft", checkpoint="newest")

    out = run_export(plan_export(run_dir, "peft")).path
    with pytest.raises(UserError, match="already exists: pass --force"):
        plan_export(run_dir, "peft")
    before = (out / "provenance.json").read_text()

    def disk_full(*args, **kwargs):
        raise RuntimeError(
            "[write] Unable to write 8 bytes to file."
        )  # what MLX raises on a full disk

    monkeypatch.setattr(mx, "save_safetensors", disk_full)
    refusal = (
        r"writing .* failed \(\[write\] Unable to write 8 bytes.*GB free on its disk\): "
        r"nothing was written"
    )
    with pytest.raises(UserError, match=refusal):
        run_export(plan_export(run_dir, "peft", force=True))
    assert (out / "provenance.json").read_text() == before  # the old export is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no partial folder left
    new = out.parent / "other"
    with pytest.raises(UserError, match="nothing was written under that name"):
        run_export(plan_export(run_dir, "peft", out=new))
    assert not new.exists()

    def gguf_full(*args, **kwargs):
        raise RuntimeError("[save_gguf] gguf_create failed")  # what MLX raised writing to /dev/full

    monkeypatch.setattr(mx, "save_gguf", gguf_full)
    with pytest.raises(UserError, match="gguf_create failed.*nothing was written under that name"):
        run_export(plan_export(run_dir, "gguf"))
    assert not (run_dir / "exports" / "best-gguf").exists()
    assert sorted(p.name for p in (run_dir / "exports").iterdir()) == ["best-peft"]


def test_unsupported_architecture_is_named():
    from farense_tui.engine.export.gguf import check_architecture

    with pytest.raises(
        UserError, match="does not support the 'qwen2' architecture .* llama, mistral only"
    ):
        check_architecture({"model_type": "qwen2"})
