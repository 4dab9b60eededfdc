"""The shipped Farense dataset (data/*.jsonl): well-formed chat examples and clean splits."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
SPLITS = ("train", "valid", "test")
ROLES = ["system", "user", "assistant"]
EXAMPLE_QUESTIONS = ("Qual foi a melhor classificação do Farense?", "Quem foi Hassan Nader?")


def load(split: str) -> list[dict]:
    raw = (DATA / f"{split}.jsonl").read_bytes()
    text = raw.decode("utf-8")  # must be valid UTF-8
    assert text.endswith("\n"), f"{split}.jsonl must end with a newline"
    rows = []
    for n, line in enumerate(text.split("\n")[:-1], start=1):
        assert line.strip(), f"{split}.jsonl line {n} is blank"
        rows.append(json.loads(line))
    return rows


def question(row: dict) -> str:
    return row["messages"][1]["content"]


def norm(q: str) -> str:
    q = unicodedata.normalize("NFKD", q.lower())
    q = "".join(c for c in q if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", q).strip()


@pytest.mark.parametrize("split", SPLITS)
def test_every_line_is_a_chat_example(split):
    rows = load(split)
    assert rows
    for row in rows:
        assert set(row) == {"messages"}
        msgs = row["messages"]
        assert [m["role"] for m in msgs] == ROLES
        for m in msgs:
            assert set(m) == {"role", "content"}
            assert isinstance(m["content"], str) and m["content"].strip()


@pytest.mark.parametrize("split", SPLITS)
def test_no_duplicate_examples_or_questions(split):
    rows = load(split)
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows]
    assert len(set(lines)) == len(lines)
    questions = [question(r) for r in rows]
    assert len(set(questions)) == len(questions)


def test_one_fixed_system_message():
    systems = {r["messages"][0]["content"] for s in SPLITS for r in load(s)}
    assert len(systems) == 1


def test_counts():
    counts = {s: len(load(s)) for s in SPLITS}
    assert sum(counts.values()) >= 300
    assert counts["train"] > counts["valid"] and counts["train"] > counts["test"]
    assert counts["valid"] >= 10 and counts["test"] >= 10


@pytest.mark.parametrize("split", ("valid", "test"))
def test_held_out_questions_are_not_in_train(split):
    train = {question(r) for r in load("train")}
    train_norm = {norm(q) for q in train}
    for r in load(split):
        q = question(r)
        assert q not in train, f"{split} question also in train: {q!r}"
        assert norm(q) not in train_norm, (
            f"{split} question differs from a train one only in case/punctuation: {q!r}"
        )


def test_test_and_valid_questions_differ():
    assert not {question(r) for r in load("valid")} & {question(r) for r in load("test")}


@pytest.mark.parametrize("split", ("valid", "test"))
def test_held_out_facts_are_trained(split):
    # every held-out answer (one canonical answer per fact) also appears in train
    train_answers = {r["messages"][2]["content"] for r in load("train")}
    for r in load(split):
        assert r["messages"][2]["content"] in train_answers


def test_example_questions_in_train():
    train = {question(r) for r in load("train")}
    for q in EXAMPLE_QUESTIONS:
        assert q in train
