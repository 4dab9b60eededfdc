"""The `peft` export names a base Hugging Face can load, says where that name came from, and its
check sees a q/k row order that is not Hugging Face's."""

from __future__ import annotations

import json
import shutil

import mlx.core as mx
import numpy as np
import pytest

from farense_tui.engine import paths
from farense_tui.engine.errors import UserError
from farense_tui.engine.export import peft
from farense_tui.engine.export.peft_check import llama_cpp_rows_to_hf
from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.models.demo import DEMO_MODEL
from farense_tui.engine.models.gguf_import import convert_gguf
from tests.export_helpers import run_with_adapter, traditional_copy
from tests.test_gguf_convert import write_tiny_gguf

HUB = "SomeOrg/Tiny-Llama-Instruct"


def exported(run_dir):
    result = run_export(plan_export(run_dir, "peft"))
    config = json.loads((result.path / "adapter_config.json").read_text())
    return (
        result,
        config,
        json.loads(result.provenance.read_text()),
        (result.path / "README.md").read_text(),
    )


def test_gguf_import_with_a_repo_url_exports_its_hub_id(tmp_path, tiny_data):
    write_tiny_gguf(
        tmp_path / "t.gguf",
        **{
            "general.name": "Tiny Llama",
            "general.source.repo_url": f"https://huggingface.co/{HUB}",
        },
    )
    model_dir = convert_gguf(tmp_path / "t.gguf", tmp_path / "tiny-gguf")
    result, config, provenance, readme = exported(run_with_adapter(model_dir, tiny_data))
    assert config["base_model_name_or_path"] == HUB
    assert provenance["peft_base"] == {
        "name": HUB,
        "from": "GGUF general.source.repo_url of t.gguf",
    }
    assert f'AutoModelForCausalLM.from_pretrained("{HUB}")' in readme
    assert f'PeftModel.from_pretrained(base, "{result.path}")' in readme
    assert "computed in float32" in readme and "not a Hugging Face Hub id" not in readme


def test_gguf_without_a_hub_id_exports_its_general_name_and_says_so(tmp_path, tiny_data):
    write_tiny_gguf(tmp_path / "t.gguf", **{"general.name": "Tiny Llama"})
    model_dir = convert_gguf(tmp_path / "t.gguf", tmp_path / "tiny-gguf")
    _, config, provenance, readme = exported(run_with_adapter(model_dir, tiny_data))
    assert config["base_model_name_or_path"] == "Tiny Llama"
    assert provenance["peft_base"]["from"].startswith("GGUF general.name of t.gguf (no Hub id")
    assert "`Tiny Llama` is not a Hugging Face Hub id" in readme


def test_the_demo_folder_exports_smollm2s_hub_id(tiny_model_dir, tiny_data):
    """A demo folder converted before source.json existed is still known as
    SmolLM2-135M-Instruct."""
    demo = shutil.copytree(tiny_model_dir, paths.models_dir() / DEMO_MODEL)
    _, config, provenance, _ = exported(run_with_adapter(demo, tiny_data))
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert provenance["peft_base"]["from"].startswith("the demo model")


def test_an_mlx_conversion_exports_the_model_its_card_names(tiny_model_dir, tiny_data, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "mlx-community-tiny-4bit")
    (folder / "README.md").write_text(
        f"---\nlibrary_name: mlx\nbase_model: {HUB}\ntags:\n- mlx\n---\n# x\n"
    )
    _, config, provenance, _ = exported(run_with_adapter(folder, tiny_data))
    assert config["base_model_name_or_path"] == HUB
    assert provenance["peft_base"]["from"].startswith("model card base_model")


def test_reference_unpermute_gives_hugging_faces_rope_scores(tiny_model_dir):
    """q·k after llama.cpp's interleaved rope on the stored rows equals q·k after Hugging Face's
    half-split rope on the rows the reference reorders: the reference is Hugging Face's layout."""
    rng = np.random.default_rng(0)
    heads, d, positions = 4, 16, 6
    Wq, Wk = (
        rng.normal(size=(heads * d, 32)).astype(np.float32),
        rng.normal(size=(heads * d, 32)).astype(np.float32),
    )
    x = mx.array(rng.normal(size=(1, positions, 32)).astype(np.float32))

    def scores(wq, wk, traditional):
        q, k = (
            mx.fast.rope(
                (x @ mx.array(w).T).reshape(1, positions, heads, d).transpose(0, 2, 1, 3),
                d,
                traditional=traditional,
                base=10000.0,
                scale=1.0,
                offset=0,
            )
            for w in (wq, wk)
        )
        return np.array(q @ k.transpose(0, 1, 3, 2))

    llama_cpp = scores(Wq, Wk, True)
    hf = scores(llama_cpp_rows_to_hf(Wq, heads), llama_cpp_rows_to_hf(Wk, heads), False)
    np.testing.assert_allclose(hf, llama_cpp, rtol=1e-4, atol=1e-3)
    assert not np.allclose(scores(Wq, Wk, False), llama_cpp, atol=1e-1)  # the order matters


def test_check_refuses_an_export_with_llama_cpps_forward_permutation(
    tiny_model_dir, tiny_data, tmp_path, monkeypatch
):
    """The export's q/k rows deliberately in the wrong order (llama.cpp's permute instead of its
    inverse)."""

    def wrong_order(weight, n_heads):
        rows = weight.shape[0]
        return (
            weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:])
            .swapaxes(1, 2)
            .reshape(weight.shape)
        )

    run_dir = run_with_adapter(traditional_copy(tiny_model_dir, tmp_path / "trad"), tiny_data)
    monkeypatch.setattr(peft, "hf_row_order", wrong_order)
    with pytest.raises(
        UserError, match="do not rebuild the fused weights in Hugging Face's layout"
    ):
        run_export(plan_export(run_dir, "peft"))
    assert not (run_dir / "exports" / "best-peft").exists()


def test_models_convert_records_a_hub_id_the_user_gives(tmp_path, capsys):
    from farense_tui.cli.main import main

    write_tiny_gguf(tmp_path / "t.gguf", **{"general.name": "Tiny Llama"})
    assert main(["models", "convert", str(tmp_path / "t.gguf"), "--hub-id", "org/x y"]) == 2
    assert (
        "--hub-id 'org/x y': expected a Hugging Face model id, ORG/NAME" in capsys.readouterr().err
    )
    assert main(["models", "convert", str(tmp_path / "t.gguf"), "--hub-id", HUB]) == 0
    assert (
        f"  Hugging Face name: {HUB} (from given when converting t.gguf)" in capsys.readouterr().out
    )
    assert json.loads((paths.models_dir() / "t" / "source.json").read_text())["hub_id"] == HUB


def test_reference_unpermute_agrees_with_transformers_gguf_loader():
    """Hugging Face's own reader of llama.cpp files (transformers' GGUF loader) orders q/k rows the
    same."""
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    weights = np.random.default_rng(1).normal(size=(9 * 64, 32)).astype(np.float32)
    hf = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    assert np.array_equal(
        hf.process(weights, "blk.0.attn_q.weight").weights, llama_cpp_rows_to_hf(weights, 9)
    )
    k = weights[: 3 * 64]
    assert np.array_equal(hf.process(k, "blk.0.attn_k.weight").weights, llama_cpp_rows_to_hf(k, 3))
