"""A quantized base loaded at float32 holds exactly the values its 4-bit blocks encode."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from farense_tui.engine.models.loading import load_base
from tests.tiny_model import build_quantized


def _float16_scales(folder):
    """Store scales and biases in float16, as the GGUF import does (Q4_1 blocks hold float16 d and
    m)."""
    path = str(folder / "model.safetensors")
    weights = mx.load(path)
    weights = {
        k: v.astype(mx.float16) if k.endswith((".scales", ".biases")) else v
        for k, v in weights.items()
    }
    mx.save_safetensors(path, weights, metadata={"format": "mlx"})
    return weights


def _numpy_dequantize(packed, scales, biases, group_size=32, bits=4):
    """The reference, computed another way: nibbles out of the uint32 words, then q·d + m in
    float64."""
    words = np.array(packed).astype(np.uint64)
    shifts = np.arange(0, 32, bits, dtype=np.uint64)
    q = (
        ((words[..., None] >> shifts) & (2**bits - 1))
        .reshape(words.shape[0], -1)
        .astype(np.float64)
    )
    groups = q.reshape(q.shape[0], -1, group_size)
    d = np.array(scales.astype(mx.float32)).astype(np.float64)[..., None]
    m = np.array(biases.astype(mx.float32)).astype(np.float64)[..., None]
    return (groups * d + m).reshape(q.shape).astype(np.float32)


def test_float32_base_of_float16_scales_is_exact(tmp_path):
    folder = build_quantized(tmp_path / "q4", bits=4, group_size=32)
    stored = _float16_scales(folder)
    model, _ = load_base(str(folder), "float32")
    for name in ("model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"):
        expected = _numpy_dequantize(
            stored[f"{name}.weight"], stored[f"{name}.scales"], stored[f"{name}.biases"]
        )
        module = model
        for part in name.split("."):
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        got = np.array(module.weight)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
