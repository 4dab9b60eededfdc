"""What an evaluation asks and expects, per data format, and the run's training system message."""

import json

import pytest

from farense_tui.engine.data.system_message import training_system_message
from farense_tui.engine.errors import UserError
from farense_tui.engine.evaluate.examples import load_eval_set, split_path
from farense_tui.engine.evaluate.summary import sample_indices, summarize

SYSTEM = "És um assistente que responde em português europeu."


def write(path, rows):
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_chat_keeps_its_own_system_message_and_completions_get_the_training_one(tmp_path):
    chat = write(
        tmp_path / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "Sê breve."},
                    {"role": "user", "content": "Cores?"},
                    {"role": "assistant", "content": "Preto e branco."},
                ]
            }
        ],
    )
    example = load_eval_set(chat, SYSTEM).examples[0]
    assert example.messages[0]["content"] == "Sê breve." and len(example.messages) == 2
    assert example.question == "Cores?" and example.reference == "Preto e branco."

    comp = write(tmp_path / "comp.jsonl", [{"prompt": "Cores?", "completion": "Preto e branco."}])
    example = load_eval_set(comp, SYSTEM).examples[0]
    assert example.messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Cores?"},
    ]
    assert example.reference == "Preto e branco."

    text = load_eval_set(write(tmp_path / "text.jsonl", [{"text": "O Farense é de Faro."}]))
    assert text.format == "text" and text.examples == []


def test_mistakes_name_the_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.jsonl", [{"prompt": "a", "completion": "b"}, {"text": "c"}])
    with pytest.raises(UserError, match=r"bad.jsonl:2: a text record in a completions file"):
        load_eval_set(bad)
    with pytest.raises(UserError, match="expected test, valid or a JSONL file"):
        split_path(tmp_path, str(tmp_path / "missing.jsonl"))


def test_training_system_message_is_the_train_splits_most_used(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": s},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ]
        }
        for s in (SYSTEM, SYSTEM, "outro")
    ]
    write(tmp_path / "train.jsonl", rows)
    assert training_system_message(tmp_path) == SYSTEM
    assert training_system_message(tmp_path / "none") is None


def test_seeded_samples_and_their_mean_and_sd():
    samples = sample_indices(4, 2, [123, 456])
    assert samples == sample_indices(4, 2, [123, 456]) and all(
        len(v) == 2 for v in samples.values()
    )
    assert sample_indices(3, 0, []) == {None: [0, 1, 2]}
    answers = [
        {
            "index": i,
            "side": "adapter",
            "exact_match": float(i < 2),
            "token_f1": 1.0,
            "rouge_l": 1.0,
        }
        for i in range(4)
    ]
    table = summarize(answers, {1: [0, 1], 2: [2, 3], 3: [0, 3]})
    assert table["adapter"]["exact_match"]["per_seed"] == [1.0, 0.0, 0.5]
    assert table["adapter"]["exact_match"]["mean"] == pytest.approx(0.5)
    assert table["adapter"]["exact_match"]["sd"] == pytest.approx(0.5)
