"""`data check --tokens`: examples as the model sees them with the trained tokens marked, and an
example that trains on nothing (a chat template that masks everything) refused before training."""

from __future__ import annotations

import json
import shutil

import pytest

from farense_tui.cli.main import main
from farense_tui.cli.token_lines import TRAINED_TTY, marked
from farense_tui.engine.data.check import load_tokenizer_for
from farense_tui.engine.data.token_view import token_views

# A template that never renders assistant turns: with the generation prompt, "the prompt" is longer
# than the whole example, so mask_prompt leaves no token to train on (NaN losses in mlx-lm).
DROPS_ASSISTANT = (
    "{% for m in messages %}{% if m['role'] != 'assistant' %}<|im_start|>{{ m['role'] }}\n{{ "
    "m['content'] }}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% "
    "endif %}"
)


@pytest.fixture
def masking_everything(tiny_model_dir, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "drops-assistant")
    (folder / "chat_template.jinja").write_text(DROPS_ASSISTANT)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    if "chat_template" in config:
        (folder / "tokenizer_config.json").write_text(
            json.dumps({**config, "chat_template": DROPS_ASSISTANT})
        )
    return folder


def test_cli_shows_examples_with_the_answer_marked_as_trained(tiny_model_dir, tiny_data, capsys):
    code = main(["data", "check", str(tiny_data), "--model", str(tiny_model_dir), "--tokens", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mask_prompt = true (every profile's default" in out
    assert "trained tokens between [[ and ]]" in out
    assert "train.jsonl:1  " in out and "train.jsonl:2  " in out and "train.jsonl:3  " not in out
    assert (
        "<|im_start|>user\n    Em que ano foi fundado o Farense? (0)<|im_end|>\n    "
        "<|im_start|>assistant\n"
        "    [[Em 1910.<|im_end|>\n    ]]" in out
    )
    assert (
        "  train: 0 with an empty mask (nothing trained), 0 with the answer cut by max_seq_length"
        in out
    )


def test_cut_answers_are_counted_and_shown(tiny_model_dir, tiny_data, capsys):
    """The tiny data's examples are 31-39 tokens with prompts of at most 27: 30 cuts every
    answer."""
    assert (
        main(
            [
                "data",
                "check",
                str(tiny_data),
                "--model",
                str(tiny_model_dir),
                "--tokens",
                "1",
                "--max-seq-length",
                "30",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "train.jsonl:1  31 tokens, 4 trained" in out
        and " ✂ 1 more token cut by max_seq_length" in out
    )
    assert (
        "  train: 0 with an empty mask (nothing trained), 24 with the answer cut by max_seq_length "
        "30" in out
    )


def test_a_terminal_gets_colour_instead_of_brackets(tiny_model_dir, tiny_data):
    (view,) = token_views(tiny_data, load_tokenizer_for(tiny_model_dir), True, 256, count=1)
    assert view.runs[-1] == ("Em 1910.<|im_end|>\n", True) and not view.runs[0][1]
    text = marked(view, tty=True)
    assert f"{TRAINED_TTY}Em 1910." in text and "[[" not in text


def test_an_empty_mask_is_shown_and_refused_by_data_check_and_train(
    masking_everything, tiny_data, capsys
):
    code = main(
        ["data", "check", str(tiny_data), "--model", str(masking_everything), "--tokens", "1"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "train.jsonl:1  " in out and "0 trained, NOTHING TRAINED" in out
    assert "  train: 24 with an empty mask (nothing trained)" in out

    code = main(
        [
            "train",
            "--model",
            str(masking_everything),
            "--data",
            str(tiny_data),
            "--profile",
            "cpu",
            "--iters",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (
        f"{tiny_data / 'train.jsonl'}:1: nothing to train on: the chat template masks every token"
        in err
    )
