"""Predict the peak memory of a LoRA/QLoRA (or full fine-tuning) run before it starts.

The prediction has the parts a person can check against their own budget:

- base weights at the precision the engine loads them (models/loading.load_base),
- the LoRA parameters, their gradients and the AdamW state (float32, as mlx-lm creates them),
- activations: what each LoRA'd block keeps for the backward pass, per token, plus the working
  set of the backward through one block,
- the logits and their loss gradients, several copies: a few chunks of target positions x vocabulary
  where the engine knows the model's head (training/gathered_loss.py), else batch x sequence x vocabulary,
- runtime: the Python process around MLX (interpreter, mlx, mlx-lm, tokenizer, data).

Everything but the weights is counted in tensor *elements* per token, a property of MLX's
autodiff graph that does not depend on the dtype; elements are multiplied by the compute dtype's
size (float32 for a float32 base, the scales' float16/bfloat16 for a quantized one).
The element counts were measured, not guessed: bench/calibrate_memory.py --sweep ran the engine's
training step (models/loading.add_lora, mlx-lm's default_loss, nn.value_and_grad, mx.compile, AdamW)
on 24 random llama shapes at two depths and fitted them (non-negative least squares); its default
mode checks the result against real engine runs. All measurements are from MLX's CPU backend on
Linux; Metal runs the same graph (in training MLX uses the unfused attention on Metal too) but was
not measured.

Sizes are in GB of 1024**3 bytes, as mx.get_peak_memory() / 1024**3 and the rest of farense-tui.
The batch is assumed padded to the profile's max_seq_length (the worst case); pass `seq_len` for
the padded length your data actually reaches (batches are padded to their longest example).
A preference objective (dpo, orpo) holds a pair as two rows (chosen, rejected): twice the rows.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine.models.local import _count_params, _safetensors_header, local_folder

GB = 1024**3

# --- constants fitted by bench/calibrate_memory.py --sweep (see BENCHMARKS.md) ---------
# Elements one LoRA'd block keeps per token for the backward pass, without gradient checkpointing:
# hidden-sized tensors (block input, normed inputs, query, attention output, residual, ...),
# key/value-sized tensors, MLP-intermediate-sized tensors (gate, up, silu, product) and rows of
# attention probabilities (heads x sequence per token: the score matrix is L x L per head).
SAVED_PER_LAYER = {"hidden": 4.33, "kv": 2.84, "intermediate": 5.06, "attention": 0.98}
# Once per step: the backward working set of one block (gradients of its activations, attention
# score gradients) plus the embedding output, final norm and head input/gradient.
WORKING_SET = {"hidden": 18.07, "intermediate": 2.83, "attention": 1.66}
# Copies of the batch x sequence x vocabulary logits alive at the peak on full logits (about four:
# the logits, the logsumexp/softmax gradient, the gradient of the gathered target scores, their sum).
LOGIT_COPIES = 3.86
# The compiled gathered loss (16 MB chunks, gradient taken in the forward pass) held 3.9
# chunk-sized logits buffers with one chunk, 8.6 with two, 14.9-16.5 with 4-32
# (bench/calibrate_logits_memory.py): up to about 3.5 chunks alive at once, not 1 (BENCHMARKS.md).
GATHERED_CHUNK_COPIES, GATHERED_CHUNKS_ALIVE = 4.67, 3.5
# With gradient checkpointing (mx.checkpoint around each block, as mlx-lm's grad_checkpoint)
# a block keeps only its input (and output) for the backward, and one block is recomputed at a time
# (added to the working set). Measured slopes were 0-2.5 hidden-sized tensors per block; 2 is the
# cautious end.
CHECKPOINT_HIDDEN_PER_LAYER = 2.0
# The process around MLX's allocator (Python, mlx, mlx-lm, tokenizer, data): engine runs on Linux
# peaked 0.02-0.21 GB above the MLX peak (VmHWM, loading included). Metal's own runtime is not in it.
RUNTIME_GB = 0.25
# Kept free for the operating system and other apps when deciding what fits (ORIGIN: "system 2 GB"
# of 16 GB).
DEFAULT_HEADROOM = 0.20

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "F32": 4, "F16": 2, "BF16": 2}
_ST_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "U32": 4,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
_TARGET_DIMS = ("q", "k", "v", "o", "gate", "up", "down")


@dataclass
class ModelShape:
    """What the estimate needs from a model's config.json (llama-style keys, with aliases)."""

    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    quant_bits: int | None = None  # the stored quantization, if the model is quantized
    quant_group: int | None = None
    float_bytes: int = 2  # the model's float dtype (scales of a quantized model, or its weights)

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_dims(self) -> dict[str, tuple[int, int]]:
        """(input, output) of each LoRA target in one block."""
        h, i = self.hidden, self.intermediate
        return {
            "q": (h, self.q_dim),
            "k": (h, self.kv_dim),
            "v": (h, self.kv_dim),
            "o": (self.q_dim, h),
            "gate": (h, i),
            "up": (h, i),
            "down": (i, h),
        }

    def params(self) -> int:
        """Parameters from the shape: embeddings, blocks, norms, and the head unless tied."""
        block = sum(a * b for a, b in self.linear_dims().values()) + 2 * self.hidden
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + self.layers * block + self.hidden + head

    def quantizable_params(self) -> int:
        """Parameters in linear layers and embeddings (what nn.quantize converts)."""
        return self.params() - (2 * self.layers + 1) * self.hidden


@dataclass
class MemoryEstimate:
    parts: dict[str, float]  # name -> GB
    info: dict = field(default_factory=dict)  # the assumptions: tokens, dtype, LoRA size, ...

    @property
    def total_gb(self) -> float:
        """Predicted peak of the whole training process."""
        return sum(self.parts.values())

    @property
    def mlx_peak_gb(self) -> float:
        """Predicted MLX peak (mx.get_peak_memory, what the budget guard and step events see)."""
        return self.total_gb - self.parts.get("runtime", 0.0)

    def fits(self, available_gb: float, headroom: float = DEFAULT_HEADROOM) -> bool:
        """True if the peak fits in `available_gb` with `headroom` (a fraction of it) kept free."""
        return self.total_gb <= available_gb * (1.0 - headroom)

    def breakdown(self) -> str:
        return ", ".join(f"{LABELS.get(k, k)} {fmt(v)}" for k, v in self.parts.items())


LABELS = {
    "base_weights": "base",
    "lora_params": "LoRA",
    "lora_grads_optimizer": "grads+AdamW",
    "activations": "activations",
    "logits": "logits",
    "dora_weights": "DoRA W+BA",
    "runtime": "runtime",
}


def fmt(gb: float) -> str:
    return f"{gb:.1f} GB" if gb >= 0.95 else f"{gb * 1024:.0f} MB" if gb >= 0.001 else "<1 MB"


# ---- the model's shape -----------------------------------------------------------------------

_ALIASES = {
    "hidden": ("hidden_size", "n_embd", "d_model", "dim"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "intermediate": ("intermediate_size", "ffn_dim", "n_inner", "hidden_dim"),
    "heads": ("num_attention_heads", "n_head", "n_heads", "num_heads"),
    "vocab": ("vocab_size",),
}


def model_shape(config: dict, tensors: dict | None = None) -> ModelShape:
    """The shape from a config.json dict; `tensors` (safetensors headers) refine the dtype."""
    if "hidden_size" not in config and isinstance(config.get("text_config"), dict):
        config = {**config, **config["text_config"]}
    got = {}
    for key, names in _ALIASES.items():
        value = next((config[n] for n in names if isinstance(config.get(n), int)), None)
        if value is None and key != "intermediate":
            raise ValueError(
                f"config.json has no {names[0]}: cannot estimate memory for this model"
            )
        got[key] = value
    hidden, heads = got["hidden"], got["heads"]
    intermediate = got["intermediate"] or 4 * hidden
    kv_heads = config.get("num_key_value_heads") or config.get("n_kv_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    quant = config.get("quantization") or config.get("quantization_config")
    bits = group = None
    if isinstance(quant, dict) and "bits" in quant:
        bits, group = int(quant["bits"]), int(quant.get("group_size", 64))
    return ModelShape(
        hidden=hidden,
        layers=got["layers"],
        intermediate=intermediate,
        heads=heads,
        kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        vocab=got["vocab"],
        tied=bool(config.get("tie_word_embeddings", False)),
        quant_bits=bits,
        quant_group=group,
        float_bytes=_float_bytes(config, tensors),
    )


def _float_bytes(config: dict, tensors: dict | None) -> int:
    if tensors:
        scales = [t["dtype"] for name, t in tensors.items() if name.endswith(".scales")]
        floats = [t for t in tensors.values() if t.get("dtype") in ("F32", "F16", "BF16")]
        if scales:
            return _ST_BYTES[scales[0]]
        if floats:
            largest = max(floats, key=lambda t: math.prod(t["shape"]))
            return _ST_BYTES[largest["dtype"]]
    return _DTYPE_BYTES.get(str(config.get("torch_dtype", "float16")), 2)


# ---- the estimate ----------------------------------------------------------------------------


def estimate_peak(
    model_config: dict,
    profile,
    n_params: int | None = None,
    *,
    tensors: dict | None = None,
    seq_len: int | None = None,
) -> MemoryEstimate:
    """Predicted peak memory of training `profile` on the model described by `model_config`.

    n_params: the logical parameter count (models.model_info reads it from safetensors headers);
    without it, it is computed from the config. tensors: the safetensors headers, for the exact
    size of a model kept at its stored quantization. seq_len: the padded batch length the data
    reaches (default: the profile's max_seq_length, the worst case).
    """
    shape = model_shape(model_config, tensors)
    n_params = n_params or shape.params()
    precision = profile.train_precision  # a full fine-tune dequantizes a 4/8-bit base
    weights, act_bytes, kept = _weights(shape, precision, n_params, tensors)

    n_lora = shape.layers if profile.lora_layers < 0 else min(profile.lora_layers, shape.layers)
    dims = shape.linear_dims()
    full = profile.fine_tune_type == "full"
    targets = list(dims) if full else [t for t in profile.lora_targets if t in dims]
    lora_params = (
        0 if full else n_lora * sum(profile.lora_rank * (dims[t][0] + dims[t][1]) for t in targets)
    )
    # Gradients and AdamW's two moments, plus the running sum of gradients across micro-batches
    # when accumulating: float32 for LoRA (mlx-lm's layers). A full fine-tune's trained weights (every
    # one of its blocks: linears and norms) are in the base already; in their own dtype, the tiny
    # model's runs peaked about 6 copies of them higher per block (BENCHMARKS.md): gradients, m and v,
    # and the new weights, m and v that the update writes before the old ones are freed.
    trained = (
        n_lora * (sum(a * b for a, b in dims.values()) + 2 * shape.hidden) if full else lora_params
    )
    copies = 6 if full else 3
    grads_optimizer = (
        trained
        * (act_bytes if full else 4)
        * (copies + (1 if profile.grad_accumulation > 1 else 0))
    )

    seq = min(seq_len or profile.max_seq_length, profile.max_seq_length)
    length = max(seq - 1, 1)  # the model sees batch[:, :-1]
    rows = profile.batch_size * (
        2 if profile.objective in ("dpo", "orpo") else 1
    )  # chosen + rejected
    tokens = rows * length
    per_layer = _saved_per_layer(shape, targets, length)
    working = _per_token(WORKING_SET, shape, length)
    if profile.grad_checkpoint:
        saved = n_lora * CHECKPOINT_HIDDEN_PER_LAYER * shape.hidden
        working += per_layer  # the block being recomputed
    else:
        saved = n_lora * per_layer
    activations = tokens * act_bytes * (saved + working)
    # DoRA (mlx-lm's DoRALinear) forms W + scale·BA of every adapted layer to take its row norms,
    # and the backward keeps it: a dense copy of those weights per step, whatever the batch.
    dora = (
        n_lora * sum(dims[t][0] * dims[t][1] for t in targets) * act_bytes
        if profile.fine_tune_type == "dora"
        else 0
    )
    chunk = _gathered_chunk(model_config, shape.vocab)  # worst case: every position a target
    alive = min(-(-tokens // chunk), GATHERED_CHUNKS_ALIVE) * chunk if chunk else 0
    logits = (
        (alive * GATHERED_CHUNK_COPIES if chunk else tokens * LOGIT_COPIES)
        * act_bytes
        * shape.vocab
    )

    parts = {
        "base_weights": weights / GB,
        **({} if full else {"lora_params": lora_params * 4 / GB}),
        "lora_grads_optimizer": grads_optimizer / GB,
        "activations": activations / GB,
        "logits": logits / GB,
        **({"dora_weights": dora / GB} if dora else {}),
        "runtime": RUNTIME_GB,
    }
    info = {
        "params": n_params,
        "precision": precision,
        "stored": kept,
        "compute_bytes": act_bytes,
        "lora_layers": n_lora,
        "lora_params": lora_params,
        "trained_params": trained,
        "fine_tune_type": profile.fine_tune_type,
        "tokens_per_micro_batch": tokens,
        "seq_len": seq,
        "batch_size": profile.batch_size,
        "grad_checkpoint": profile.grad_checkpoint,
        "layers": shape.layers,
        "vocab": shape.vocab,
        "rows_per_micro_batch": rows,
        "logit_rows": alive or tokens,
        "gathered_logits": bool(chunk),
    }
    return MemoryEstimate(parts=parts, info=info)


def _gathered_chunk(config: dict, vocab: int) -> int:
    """Positions per chunk of the gathered loss for this model, or 0 where it trains on full logits."""
    from farense_tui.engine.training.gathered_loss import (
        chunk_rows,  # here: no MLX until an estimate
    )
    from farense_tui.engine.training.output_head import known_head

    return chunk_rows(vocab) if known_head(str(config.get("model_type", ""))) else 0


def _weights(shape: ModelShape, precision: str, n_params: int, tensors: dict | None):
    """(bytes of the base weights, bytes per activation element, how they are stored)."""
    if precision in _DTYPE_BYTES:
        size = _DTYPE_BYTES[precision]
        return n_params * size, size, precision
    if shape.quant_bits is not None:
        # load_base keeps an already quantized model as it is stored.
        if tensors:
            stored = sum(_tensor_bytes(t) for t in tensors.values())
            return (
                stored,
                shape.float_bytes,
                f"{shape.quant_bits}-bit g{shape.quant_group} as stored",
            )
        bits, group = shape.quant_bits, shape.quant_group
    else:
        bits, group = (4 if precision == "4bit" else 8), 64  # nn.quantize in load_base
    quantizable = min(shape.quantizable_params(), n_params)
    per_param = (
        bits / 8 + 2 * shape.float_bytes / group
    )  # packed weight + a scale and a bias per group
    other = (n_params - quantizable) * shape.float_bytes
    return quantizable * per_param + other, shape.float_bytes, f"{bits}-bit g{group}"


def _tensor_bytes(t: dict) -> int:
    if "data_offsets" in t:
        start, end = t["data_offsets"]
        return end - start
    return math.prod(t["shape"]) * _ST_BYTES.get(t["dtype"], 4)


def _per_token(coef: dict, shape: ModelShape, length: int) -> float:
    return (
        coef.get("hidden", 0) * shape.hidden
        + coef.get("kv", 0) * shape.kv_dim
        + coef.get("intermediate", 0) * shape.intermediate
        + coef.get("attention", 0) * shape.heads * length
    )


def _saved_per_layer(shape: ModelShape, targets: list[str], length: int) -> float:
    elements = _per_token(SAVED_PER_LAYER, shape, length)
    if "o" not in targets:
        elements -= shape.q_dim  # the attention output is kept only as o_proj's LoRA input
    if not {"gate", "up"} & set(targets):
        elements -= shape.hidden  # the normed MLP input, kept only for gate/up LoRA
    if not {"q", "k", "v"} & set(targets):
        elements -= shape.hidden  # the normed attention input, kept only for q/k/v LoRA
    return elements


# ---- from a model folder -----------------------------------------------------------------------


def read_model(path: Path) -> tuple[dict, dict, int]:
    """(config, safetensors tensor headers, logical parameter count) without loading weights."""
    config = json.loads((path / "config.json").read_text())
    tensors: dict = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors.update({k: v for k, v in _safetensors_header(file).items() if k != "__metadata__"})
    quant = config.get("quantization")
    n_params = _count_params(tensors, quant) if tensors else 0
    return config, tensors, n_params


def estimate_for(
    model_path_or_spec, profile, *, seq_len: int | None = None
) -> MemoryEstimate | None:
    """Estimate for a model folder or spec; None when the model is not on this machine (unknown)."""
    folder = local_folder(model_path_or_spec)
    if folder is None:
        return None
    try:
        config, tensors, n_params = read_model(folder)
        return estimate_peak(
            config, profile, n_params or None, tensors=tensors or None, seq_len=seq_len
        )
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
