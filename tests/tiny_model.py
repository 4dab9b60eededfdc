"""A tiny randomly initialised llama with a real byte-level BPE tokenizer, built by the tests.

Hidden 64, 2 blocks, vocab 512: a LoRA step takes tens of milliseconds on a CPU, yet it goes
through the same mlx-lm loading, chat template, LoRA and adapter code as a real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models import llama
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONFIG = {
    "model_type": "llama",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "vocab_size": 512,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "max_position_embeddings": 1024,
}
FACTS = [
    ("Em que ano foi fundado o Farense?", "Em 1910."),
    ("Onde joga o Farense?", "No Estádio de São Luís, em Faro."),
    ("Quais são as cores do Farense?", "Preto e branco."),
    ("Quem foi Hassan Nader?", "Um avançado marroquino do Farense."),
    ("Qual foi a melhor classificação do Farense?", "O 5.º lugar em 1994-95."),
    ("Qual é a alcunha do Farense?", "Os Leões de Faro."),
]


def chat(q: str, a: str) -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def write_data(folder: Path, n_train: int = 24, n_valid: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [chat(f"{q} ({i})", a) for i in range(n_train) for q, a in [FACTS[i % len(FACTS)]]]
    (folder / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )
    valid = [chat(q, a) for q, a in (FACTS * 2)[:n_valid]]
    (folder / "valid.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in valid)
    )
    return folder


def build(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=CONFIG["vocab_size"],
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([f"{q} {a}" for q, a in FACTS] * 4, trainer)
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    ).save_pretrained(folder)
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(CONFIG))
    mx.eval(model.parameters())
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    (folder / "config.json").write_text(json.dumps(CONFIG))
    return folder


def write_text_data(folder: Path, n_train: int = 16, n_valid: int = 4) -> Path:
    """mlx-lm's text format ({"text"}), SQL-ish lines like its WikiSQL example set."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("valid", n_valid)):
        rows = [
            {"text": f"Q: {q}\nA: SELECT answer FROM farense WHERE id = {i}"}
            for i in range(n)
            for q, _ in [FACTS[i % len(FACTS)]]
        ]
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    return folder


def build_quantized(folder: Path, bits: int = 4, group_size: int = 32, seed: int = 0) -> Path:
    """The tiny llama stored quantized, as an MLX community 4-/8-bit model folder is: mlx-lm's own
    quantize_model and save, so `mlx_lm.load` reads it back as
    QuantizedLinear/QuantizedEmbedding."""
    from mlx_lm.utils import load, quantize_model, save

    dense = build(folder.parent / f"{folder.name}-dense", seed=seed)
    model, tokenizer = load(str(dense))
    model, config = quantize_model(model, dict(CONFIG), group_size=group_size, bits=bits)
    save(folder, dense, model, tokenizer, config)
    return folder
