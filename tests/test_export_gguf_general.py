"""A model converted from a GGUF keeps that file's `general.*` keys (name, licence, source URLs…)
through the GGUF export: read with llama.cpp's own reader (`gguf`), every key of the original
file is in the export with its type and value, except general.file_type (the export is F16)."""

from __future__ import annotations

import mlx.core as mx
import pytest

from farense_tui.engine.export.plan import plan_export
from farense_tui.engine.export.run import run_export
from farense_tui.engine.models.gguf_import import convert_gguf
from tests.export_helpers import run_with_adapter
from tests.test_gguf_convert import write_tiny_gguf

gguf = pytest.importorskip("gguf")

GENERAL = {
    "general.type": "model",
    "general.name": "Tiny Llama 1K Instruct",
    "general.basename": "tiny-llama",
    "general.finetune": "instruct",
    "general.organization": "Farense Tests",
    "general.size_label": "1K",
    "general.license": "apache-2.0",
    "general.source.url": "https://example.org/tiny-llama",
    "general.base_model.count": mx.array(1, dtype=mx.uint32),
    "general.base_model.0.name": "Tiny Llama 1K",
    "general.base_model.0.repo_url": "https://example.org/tiny-llama-base",
    "general.languages": ["en", "pt"],
    "general.tags": ["text-generation"],
    "general.file_type": mx.array(0, dtype=mx.uint32),  # ALL_F32
    "general.quantization_version": mx.array(2, dtype=mx.uint32),
}


def fields(path) -> dict:
    reader = gguf.GGUFReader(str(path))
    return {k: ([t.name for t in f.types], f.contents()) for k, f in reader.fields.items()}


def test_gguf_export_keeps_the_source_files_general_keys(tmp_path, tiny_data):
    source = tmp_path / "tiny.gguf"
    write_tiny_gguf(source, **GENERAL)
    model_dir = convert_gguf(source, tmp_path / "tiny-from-gguf")
    run_dir = run_with_adapter(model_dir, tiny_data)
    exported = fields(run_export(plan_export(run_dir, "gguf")).path / "model-f16.gguf")
    original = {k: v for k, v in fields(source).items() if k.startswith("general.")}
    assert len(original) == len(GENERAL) + 1  # + general.architecture, written by write_tiny_gguf
    kept = {k: v for k, v in original.items() if k != "general.file_type"}
    assert {k: exported.get(k) for k in kept} == kept
    assert exported["general.file_type"] == (["UINT32"], 1)  # this file's tensors: F16
    # What we add is under our own prefix; the only new general.* key is the file's layout
    # (mlx-lm's).
    assert {k for k in exported if k.startswith("general.")} - set(original) == {
        "general.alignment"
    }
    assert exported["farense.export.run"] == (["STRING"], run_dir.name)
    assert exported["farense.export.checkpoint"] == (["STRING"], "best")
