"""The data validator: every bad line found with its number, formats, token lengths, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farense_tui.cli.main import main
from farense_tui.engine.data.check import check_data, load_tokenizer_for
from farense_tui.engine.data.masking import report_masking_note
from farense_tui.engine.data.report import Problem
from farense_tui.engine.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def chat(user: str = "a b", assistant: str = "c", system: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    return {
        "messages": msgs
        + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }


def write_jsonl(path: Path, records) -> Path:
    """Records are dicts (dumped as JSON) or bytes (written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in records
    ]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def make_folder(folder: Path, train, valid=None, test=None) -> Path:
    write_jsonl(folder / "train.jsonl", train)
    if valid is not None:
        write_jsonl(folder / "valid.jsonl", valid)
    if test is not None:
        write_jsonl(folder / "test.jsonl", test)
    return folder


def messages_by_line(report) -> dict[int, str]:
    """Line number → its problems' messages, joined with ' | '."""
    out: dict[int, str] = {}
    for p in report.problems:
        if p.line > 0:
            out[p.line] = f"{out[p.line]} | {p.message}" if p.line in out else p.message
    return out


@pytest.fixture(autouse=True)
def keep_the_blas(monkeypatch):
    """main() would otherwise load OpenBLAS into this very process (pytest): its BLAS stays as it
    is."""
    monkeypatch.setenv("FARENSE_BLAS", "reference")


@pytest.fixture(scope="module")
def tiny_tokenizer():
    """A word-level tokenizer with a chat template: one token per word, no download."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>", *"abcdefgh"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>")
    # "<|role|> content <eos>" per message: 2 + words(content) tokens each
    hf.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <eos> {% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    return hf


def test_clean_chat_folder_passes(tmp_path):
    folder = make_folder(tmp_path / "d", [chat(), chat(system="s")] * 3, [chat()] * 2, [chat()])
    report = check_data(folder)
    assert report.ok, report.problems
    assert report.problems == []
    assert {n: s.count for n, s in report.splits.items()} == {"train": 6, "valid": 2, "test": 1}
    assert all(s.format == "chat" for s in report.splits.values())
    assert report.tokenizer_name is None
    summary = "\n".join(report.summary_lines())
    assert "characters" in summary and "6 examples" in summary
    assert report.splits["train"].token_lengths[0] == len("a b") + len("c")


def test_broken_lines_each_reported_with_number_and_reason(tmp_path):
    good = json.dumps(chat()).encode()
    lines = [
        good,
        b'{"messages": [{"role": "user", "content": "hi"}, ',  # 2: invalid JSON
        json.dumps(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}
        ).encode(),
        json.dumps(
            {"messages": [{"role": "bot", "content": "a"}, {"role": "assistant", "content": "b"}]}
        ).encode(),
        json.dumps(
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]}
        ).encode(),
        b'{"messages": [{"role": "user", "content": "caf\xe9"}, {"role": "assistant", "content": '
        b'"b"}]}',
        good,
    ]
    path = write_jsonl(tmp_path / "d" / "train.jsonl", lines)
    write_jsonl(tmp_path / "d" / "valid.jsonl", [chat()])
    report = check_data(tmp_path / "d")
    assert not report.ok
    got = messages_by_line(report)
    assert sorted(got) == [2, 3, 4, 5, 6]
    assert got[2].startswith("invalid JSON: Expecting value")
    assert got[3] == "missing key 'content' in messages[1]"
    assert "role 'bot' in messages[0]" in got[4] and "system, user, assistant, tool" in got[4]
    assert got[5] == "'content' in messages[0] is empty"
    offset = sum(len(line) + 1 for line in lines[:5]) + lines[5].index(b"\xe9")
    assert got[6].startswith(f"not UTF-8: byte 0xe9 at byte offset {offset} ")
    assert all(p.file == path for p in report.problems)
    assert str(report.problems[1]) == f"{path}:3: missing key 'content' in messages[1]"
    train = report.splits["train"]
    assert train.count == 7 and train.valid_count == 2


def test_more_chat_rules(tmp_path):
    lines = [
        chat(),
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"role": "user", "content": "a"}]},  # no assistant
        {"messages": [{"content": "a"}, {"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "user", "content": ["a"]}, {"role": "assistant", "content": "b"}]},
        {"messages": ["a", {"role": "assistant", "content": "b"}]},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "tool_calls": [{"x": 1}]},
                {"role": "tool", "content": "r"},
                {"role": "assistant", "content": "b"},
            ]
        },  # fine
        {
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "tools": 3,
        },
        [1, 2],
        {"input": "a", "output": "b"},
        {"prompt": "a"},
    ]
    report = check_data(write_jsonl(tmp_path / "x.jsonl", lines))
    got = messages_by_line(report)
    assert sorted(got) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    assert "non-empty array" in got[2] and "empty array" in got[2]
    assert "got string" in got[3]
    assert "no message with role 'assistant'" in got[4]
    assert got[5] == "missing key 'role' in messages[0]"
    assert got[6] == "'content' in messages[0] must be a string, got array"
    assert "messages[0] must be an object" in got[7]
    assert "'tools' must be an array" in got[9]
    assert got[10] == "expected one JSON object per line, got array"
    assert "found keys 'input', 'output'" in got[11] and "completions" in got[11]
    assert "'prompt' needs 'completion'" in got[12]


def test_completions_and_text_formats_accepted(tmp_path):
    comp = make_folder(
        tmp_path / "c",
        [{"prompt": "p", "completion": "c"}] * 3,
        [{"prompt": "p", "completion": "c"}],
    )
    text = make_folder(tmp_path / "t", [{"text": "hello"}] * 2, [{"text": "bye"}])
    rc, rt = check_data(comp), check_data(text)
    assert rc.ok and rt.ok
    assert rc.splits["train"].format == "completions" and rt.splits["train"].format == "text"
    assert rt.splits["train"].token_lengths == [5, 5]

    bad = write_jsonl(tmp_path / "b.jsonl", [{"prompt": "", "completion": 3}, {"text": " "}])
    got = messages_by_line(check_data(bad))
    assert got[1] == "'prompt' is empty | 'completion' must be a string, got number"
    assert "line is in text format" in got[2]
    got = messages_by_line(
        check_data(write_jsonl(tmp_path / "b2.jsonl", [{"prompt": "p", "completion": 3}]))
    )
    assert got[1] == "'completion' must be a string, got number"


def test_mixed_formats_flagged(tmp_path):
    folder = make_folder(
        tmp_path / "d",
        [chat(), {"prompt": "p", "completion": "c"}, {"text": "t"}, chat()],
        [chat()],
    )
    report = check_data(folder)
    got = messages_by_line(report)
    assert sorted(got) == [2, 3]
    assert "completions format but the file's first example (line 1) is chat" in got[2]
    assert report.splits["train"].format == "chat"


def test_missing_valid_and_empty_train_flagged(tmp_path):
    report = check_data(make_folder(tmp_path / "d", [chat()] * 2))
    assert not report.ok
    assert [str(p) for p in report.problems] == [
        f"{tmp_path / 'd'}: valid.jsonl missing: needed for validation loss"
    ]
    assert any("valid  missing" in line for line in report.summary_lines())

    write_jsonl(tmp_path / "e" / "val.jsonl", [chat()])
    (tmp_path / "e" / "train.jsonl").write_text("")
    msgs = [p.message for p in check_data(tmp_path / "e").problems]
    assert "train.jsonl has no examples" in msgs
    assert any("valid.jsonl missing" in m and "found val.jsonl" in m for m in msgs)


def test_blank_lines_bom_and_problem_cap(tmp_path):
    good = json.dumps(chat()).encode()
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n\n" + good + b"\n\n")
    got = messages_by_line(check_data(path))
    assert "byte order mark" in got[1]
    assert got[2].startswith("empty line") and got[4].startswith("empty line")

    report = check_data(write_jsonl(tmp_path / "many.jsonl", [b"{"] * 25))
    assert len(report.problems) == 25
    lines = report.problem_lines(per_file=20)
    assert len(lines) == 21 and lines[-1].endswith("… and 5 more")


def test_profile_dependent_checks(tmp_path):
    text = make_folder(tmp_path / "t", [{"text": "x"}] * 2, [{"text": "y"}] * 4)
    report = check_data(text, mask_prompt=True, batch_size=4)
    msgs = [p.message for p in report.problems]
    assert not any("mask_prompt" in m for m in msgs)  # text data trains on all tokens instead
    assert any("2 examples, fewer than batch_size 4" in m for m in msgs)
    assert "train, valid: text format has no prompt to mask" in report_masking_note(report, True)
    assert report_masking_note(report, False) is None


def test_the_three_bad_files_that_used_to_pass(tmp_path, tiny_tokenizer):
    """A chat ending on the user (an error even without a profile: every profile masks the prompt),
    a NaN literal, and an example far over the largest max_seq_length (a warning with its line)."""
    ends_with_user = {"messages": [*chat()["messages"], {"role": "user", "content": "d"}]}
    folder = make_folder(tmp_path / "c", [ends_with_user], [chat()])
    assert "last message is from 'user'" in messages_by_line(check_data(folder))[1]

    train = tmp_path / "n" / "train.jsonl"
    train.parent.mkdir()
    train.write_text(json.dumps(chat()) + '\n{"text": "a", "weight": NaN}\n')
    got = messages_by_line(check_data(train))
    assert "non-standard JSON literal NaN (column 25)" in got[2]

    huge = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "w " * 40}]
    }
    report = check_data(
        make_folder(tmp_path / "h", [chat(), huge], [chat()]), tiny_tokenizer, max_seq_length=8
    )
    assert report.ok  # long examples are truncated, not refused
    (warning,) = report.warnings
    assert warning.line == 2 and "over 2× max_seq_length 8" in warning.message


def test_token_lengths_and_truncation_with_tokenizer(tmp_path, tiny_tokenizer):
    # tokens per example: sum over messages of 2 + words(content)
    train = [
        chat("a", "b"),
        chat("a b c", "d e"),
        chat("a b c d e f", "g h", system="a b"),
    ]  # 6, 9, 16
    folder = make_folder(tmp_path / "d", train, [chat("a", "b")])
    report = check_data(folder, tiny_tokenizer, max_seq_length=8)
    assert report.ok, report.problems
    split = report.splits["train"]
    assert split.token_lengths == [6, 9, 16]
    assert split.truncated == 2 and split.length_unit == "tokens"
    assert report.splits["valid"].truncated == 0
    summary = "\n".join(report.summary_lines())
    assert "tokens min 6 / median 9 / p95 16 / max 16" in summary
    assert "2 over 8 (would be truncated)" in summary and "none over 8" in summary

    # with mask_prompt, an example whose prompt alone reaches max_seq_length trains on nothing
    masked = check_data(folder, tiny_tokenizer, max_seq_length=8, mask_prompt=True)
    assert masked.splits["train"].token_lengths == [6, 9, 16]
    assert masked.splits["train"].empty_mask == 1  # the third: prompt is 4 + 8 + 1 = 13 tokens
    assert masked.splits["train"].answer_cut == 1  # the second: 9 tokens, its last one cut
    (empty,) = masked.problems
    assert empty.line == 3 and "the prompt alone is 13 tokens, so max_seq_length 8" in empty.message

    comp = make_folder(tmp_path / "c", [{"prompt": "a b", "completion": "c"}], [{"text": "a b"}])
    r = check_data(comp, tiny_tokenizer)
    assert r.splits["train"].token_lengths == [7]  # chat template applied to prompt/completion
    assert r.splits["valid"].token_lengths == [3]  # text: words + eos


def test_template_failure_and_missing_template_reported(tmp_path, tiny_tokenizer):
    strict = tiny_tokenizer.__class__(
        tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<eos>"
    )
    strict.chat_template = (
        "{% if messages[0]['role'] != 'user' %}{{ raise_exception('must start with user') }}{% "
        "endif %}" + tiny_tokenizer.chat_template
    )
    path = write_jsonl(
        tmp_path / "x.jsonl", [chat(), {"messages": [{"role": "assistant", "content": "a"}]}]
    )
    got = messages_by_line(check_data(path, strict))
    assert list(got) == [2] and "chat template failed: must start with user" in got[2]

    plain = tiny_tokenizer.__class__(
        tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<eos>"
    )
    msgs = [p.message for p in check_data(path, plain).problems]
    assert any("has no chat template" in m for m in msgs)


def test_bad_paths_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        check_data(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UserError, match="expected a .jsonl file"):
        check_data(tmp_path / "a.txt")
    with pytest.raises(UserError, match="no model folder"):
        load_tokenizer_for(tmp_path / "no-model")
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(UserError, match="no tokenizer files"):
        load_tokenizer_for(tmp_path / "empty-model")


def test_problem_str():
    assert str(Problem(Path("data/train.jsonl"), 12, "missing key 'content' in messages[1]")) == (
        "data/train.jsonl:12: missing key 'content' in messages[1]"
    )


def test_cli_exit_codes(tmp_path, capsys, farense_home):
    good = make_folder(tmp_path / "good", [chat()] * 4, [chat()] * 4)
    assert main(["data", "check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK: ready to train." in out and "4 examples" in out and "characters" in out

    bad = make_folder(tmp_path / "bad", [chat(), b"{oops"], None)
    assert main(["data", "check", str(bad), "--max-seq-length", "64"]) == 1
    out = capsys.readouterr().out
    assert f"{bad / 'train.jsonl'}:2: invalid JSON" in out
    assert "valid.jsonl missing: needed for validation loss" in out
    assert "Not ready: 2 problems to fix." in out

    assert main(["data", "check", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "missing") in err and "Traceback" not in err

    # default PATH is the home's data/ folder; --profile supplies max_seq_length and batch size
    make_folder(farense_home / "data", [chat()] * 2, [chat()] * 2)
    assert main(["data", "check", "--profile", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "fewer than batch_size" in out and "max_seq_length:" in out


def test_cli_with_model_folder(tmp_path, capsys, tiny_tokenizer):
    model = tmp_path / "tiny-model"
    tiny_tokenizer.save_pretrained(model)
    folder = make_folder(tmp_path / "d", [chat("a", "b"), chat("a b c d e f", "g h")], [chat()])
    assert main(["data", "check", str(folder), "--model", str(model), "--max-seq-length", "8"]) == 0
    out = capsys.readouterr().out
    assert "tokens min 6 / median 6 / p95 12 / max 12; 1 over 8" in out
    assert "tiny-model" in out

    assert main(["data", "check", str(folder), "--model", str(tmp_path / "nope")]) == 2
    assert "no model folder" in capsys.readouterr().err


@pytest.mark.skipif(
    not (REPO / "data" / "train.jsonl").is_file(), reason="no data/ folder in the repo"
)
def test_repo_data_folder_passes():
    report = check_data(REPO / "data")
    assert report.ok, "\n".join(report.problem_lines())
    assert report.splits["train"].count > 0 and report.splits["valid"].count > 0


@pytest.mark.skipif(
    not (REPO / "data" / "train.jsonl").is_file()
    or not (REPO / "models" / "smollm2-135m-instruct" / "tokenizer.json").is_file(),
    reason="needs data/ and the demo model in the repo",
)
def test_repo_data_token_lengths_match_mlx_lm():
    from types import SimpleNamespace

    from mlx_lm.tuner.datasets import load_local_dataset

    tok = load_tokenizer_for(REPO / "models" / "smollm2-135m-instruct")
    train, _, _ = load_local_dataset(REPO / "data", tok, SimpleNamespace(mask_prompt=True))
    report = check_data(REPO / "data", tok, 512, mask_prompt=True)
    assert report.ok, "\n".join(report.problem_lines())
    assert report.splits["train"].token_lengths == [
        len(train.process(train[i])[0]) for i in range(len(train))
    ]


def test_huge_example_warned_without_tokenizer(tmp_path, capsys, farense_home):
    """Characters only: a 5-million-character answer is still far past any max_seq_length."""
    folder = make_folder(
        tmp_path / "d", [chat(), chat(assistant="x" * 5_000_000), chat()], [chat()]
    )
    report = check_data(folder, None, 2048)
    [warning] = report.warnings
    assert warning.file == folder / "train.jsonl" and warning.line == 2
    assert "5000003 characters" in warning.message and "16 characters per token" in warning.message
    assert main(["data", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{folder / 'train.jsonl'}:2: example of 5000003 characters" in out
    # an ordinary long answer is no warning: the bound is conservative
    assert not check_data(
        make_folder(tmp_path / "e", [chat(assistant="x" * 8000)], [chat()]), None, 2048
    ).warnings
