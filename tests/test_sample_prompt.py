"""The closing hint's prompt comes from the run's own validation data, in each of mlx-lm's
formats."""

from __future__ import annotations

import json

import pytest

from farense_tui.engine.data.sample_prompt import first_prompt, shorten


def valid(folder, *rows) -> object:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"prompt": "What is WWDC?", "completion": "Apple's conference."}, "What is WWDC?"),
        (
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Olá?"},
                    {"role": "assistant", "content": "Olá!"},
                ]
            },
            "Olá?",
        ),
        ({"text": "table: players\nQ: who scored?\nA: SELECT name FROM players"}, "table: players"),
    ],
)
def test_first_prompt_of_each_format(tmp_path, row, expected):
    assert first_prompt(valid(tmp_path / "d", row, {"text": "second"})) == expected


def test_long_prompts_are_cut_at_a_word_and_no_data_gives_none(tmp_path):
    long = (
        "Which   players scored more than ten goals in the 1994-95 season for Farense, and "
        "against whom?"
    )
    got = first_prompt(valid(tmp_path / "d", {"prompt": long, "completion": "x"}))
    assert got == "Which players scored more than ten goals in the 1994-95…" and len(got) <= 60
    assert shorten("x" * 80, 10) == "x" * 9 + "…"
    assert first_prompt(tmp_path / "missing") is None
    assert first_prompt(valid(tmp_path / "bad", {"unknown": 1})) is None
