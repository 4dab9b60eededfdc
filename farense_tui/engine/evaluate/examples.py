"""What an evaluation asks and expects: a split's examples as (prompt messages, reference answer).

No MLX. Chat examples keep their own messages up to the last assistant turn (system message
included) and that turn is the reference; completions ask the prompt as a user turn and the
completion is the reference. Text data has no reference answers: it gets loss and perplexity only.
An example without a system message gets the run's training system message, so the model is
asked the way training taught it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farense_tui.engine.data.jsonl import read_jsonl
from farense_tui.engine.data.preference_records import check_preference, chosen_as_chat
from farense_tui.engine.data.records import detect_format
from farense_tui.engine.errors import UserError


@dataclass(frozen=True)
class Example:
    messages: list[dict]  # what the model is asked (system and earlier turns included)
    reference: str

    @property
    def question(self) -> str:
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


@dataclass
class EvalSet:
    path: Path
    format: str  # chat | completions | text
    rows: list[dict]
    examples: list[Example]  # empty for text data


def split_path(data: Path, split: str) -> Path:
    """test or valid name a file of the run's data folder; anything else is a path to a JSONL
    file."""
    if split in ("test", "valid", "train"):
        return data / f"{split}.jsonl"
    path = Path(split).expanduser()
    if not path.is_file():
        raise UserError(f"--split {split!r}: expected test, valid or a JSONL file (no such file)")
    return path


def load_eval_set(path: Path, system: str | None = None) -> EvalSet:
    rows = read_jsonl(path)
    if not rows:
        raise UserError(f"{path}: no examples")
    kind = detect_format(rows[0])
    if kind is None:
        raise UserError(f"{path}:1: unknown format, expected chat, completions or text records")
    examples = []
    for number, row in enumerate(rows, start=1):
        if detect_format(row) != kind:
            raise UserError(f"{path}:{number}: a {detect_format(row)} record in a {kind} file")
        if kind == "preference":  # scored against the chosen reply
            problems = check_preference(row)
            if problems:
                raise UserError(f"{path}:{number}: {problems[0]}")
            row = chosen_as_chat(row)
        if kind in ("chat", "preference"):
            examples.append(_chat_example(row, path, number, system))
        elif kind == "completions":
            examples.append(
                Example(
                    _with_system([{"role": "user", "content": row["prompt"]}], system),
                    row["completion"],
                )
            )
    return EvalSet(path, kind, rows, examples)


def _chat_example(row: dict, path: Path, number: int, system: str | None) -> Example:
    messages = row["messages"]
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None or last == 0:
        raise UserError(f"{path}:{number}: 'messages' needs an assistant answer after the question")
    return Example(_with_system(messages[:last], system), messages[last]["content"])


def _with_system(messages: list[dict], system: str | None) -> list[dict]:
    if system and not any(m.get("role") == "system" for m in messages):
        return [{"role": "system", "content": system}, *messages]
    return list(messages)
