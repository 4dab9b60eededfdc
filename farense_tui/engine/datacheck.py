"""Check a training data set before training: the same files, formats and token lengths mlx-lm sees.

A data folder holds train.jsonl and valid.jsonl (test.jsonl optional), one JSON object per line,
all lines of a file in one of mlx-lm's formats:

- chat:        {"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]?}
- completions: {"prompt": "...", "completion": "..."}
- text:        {"text": "..."}

Every problem is reported with its file and 1-based line number and says what was expected; the
check keeps going after a problem so that one run lists them all.

Policy decisions (kept in line with mlx-lm's own loader, which runs ``json.loads`` on every line
of the file as read in text mode):

- Blank lines are problems everywhere, at the end of the file too: ``json.loads("\\n")`` fails,
  so mlx-lm would stop on them. (A final newline after the last object is fine: that is not a
  blank line.)
- Lines are split as Python's text mode splits them (``\\n``, ``\\r\\n`` and a lone ``\\r``).
- A UTF-8 byte order mark is a problem (Python's ``json`` rejects it).
- The format of a file is decided as mlx-lm decides it: by its first example, in the order
  completions (prompt + completion) → chat (messages) → text. A line in another format is a
  problem, since mlx-lm would fail on it mid-training.
- An assistant message that carries ``tool_calls`` may have empty or missing content.

With a tokenizer, lengths are token counts computed exactly as training computes them, through
``mlx_lm.tuner.datasets.create_dataset(...).process(d)`` (chat template included); without one
they are character counts of the text fields and truncation is not checked.

This module is part of the headless engine: it must never import Textual. mlx-lm and
transformers are imported only when a tokenizer is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from farense_tui.engine import paths
from farense_tui.engine.demo_model import DEMO_MODEL
from farense_tui.engine.errors import UserError

SPLITS = ("train", "valid", "test")
REQUIRED_SPLITS = ("train", "valid")
ROLES = ("system", "user", "assistant", "tool")
FORMATS = ("chat", "completions", "text")
FORMAT_HELP = 'chat {"messages": [...]}, completions {"prompt", "completion"}, text {"text"}'
DEFAULT_PROBLEMS_PER_FILE = 20

# Other names people give their splits; mlx-lm reads only train/valid/test.jsonl.
_SPLIT_ALIASES = {
    "train": ("training", "trn"),
    "valid": ("val", "validation", "dev", "eval"),
    "test": ("testing", "tst"),
}


@dataclass
class Problem:
    """One thing to fix: where (file, 1-based line; 0 = the file or folder itself) and what."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        if self.line > 0:
            return f"{self.file}:{self.line}: {self.message}"
        return f"{self.file}: {self.message}"


@dataclass
class SplitReport:
    """What one file holds: its examples, format, problems and lengths of the valid examples."""

    name: str
    path: Path
    count: int = 0  # examples: the non-blank lines of the file
    format: str | None = None  # "chat" | "completions" | "text"; None when no line had one
    problems: list[Problem] = field(default_factory=list)
    token_lengths: list[int] = field(default_factory=list)  # one per valid example
    truncated: int = 0  # valid examples longer than max_seq_length (0 when lengths are characters)
    length_unit: str = "tokens"  # "tokens" or "characters"
    prompt_only: int = 0  # with mask_prompt: examples whose prompt alone fills max_seq_length

    @property
    def valid_count(self) -> int:
        return len(self.token_lengths)


@dataclass
class DataReport:
    """The result of `check_data`: one SplitReport per file found, plus folder-level problems."""

    folder: Path
    splits: dict[str, SplitReport]
    max_seq_length: int | None
    tokenizer_name: str | None
    folder_problems: list[Problem] = field(default_factory=list)
    single_file: bool = False

    @property
    def problems(self) -> list[Problem]:
        out = list(self.folder_problems)
        for split in self.splits.values():
            out.extend(split.problems)
        return out

    @property
    def ok(self) -> bool:
        """No problems and examples to train on (in a folder: a non-empty train split)."""
        if self.problems:
            return False
        if self.single_file:
            return any(s.count > 0 for s in self.splits.values())
        train = self.splits.get("train")
        return train is not None and train.count > 0

    def padded_length(self) -> int | None:
        """The longest batch the train and valid splits can make, padded as training pads it;
        None when lengths are characters (no tokenizer). What the memory estimate needs."""
        from farense_tui.engine.batching import padded_length

        longest = [max(s.token_lengths) for n, s in self.splits.items()
                   if n in REQUIRED_SPLITS and s.token_lengths and s.length_unit == "tokens"]
        return padded_length(max(longest)) if longest else None

    def summary_lines(self) -> list[str]:
        unit = "tokens" if self.tokenizer_name else "characters"
        lines = []
        if self.tokenizer_name:
            lines.append(f"Lengths in tokens (tokenizer: {self.tokenizer_name}, chat template applied)")
        else:
            lines.append(
                "Lengths in characters: no tokenizer given, so truncation is not checked "
                "(give a model to count tokens)"
            )
        if self.max_seq_length:
            lines.append(f"max_seq_length: {self.max_seq_length} tokens")
        elif self.tokenizer_name:
            lines.append("max_seq_length: not given, so truncation is not checked")
        width = max((len(n) for n in self.splits), default=5)
        for name in (*SPLITS, *sorted(set(self.splits) - set(SPLITS))):
            split = self.splits.get(name)
            if split is None:
                if not self.single_file and name in SPLITS:
                    need = "missing" if name in REQUIRED_SPLITS else "not present (optional)"
                    lines.append(f"{name:<{width}}  {need}")
                continue
            lines.append(_split_line(split, width, unit, self.max_seq_length))
        return lines

    def problem_lines(self, per_file: int = DEFAULT_PROBLEMS_PER_FILE) -> list[str]:
        """Every problem as one line, at most `per_file` per file followed by '… and N more'."""
        lines = [str(p) for p in self.folder_problems]
        for split in self.splits.values():
            shown = split.problems[:per_file]
            lines.extend(str(p) for p in shown)
            if len(split.problems) > len(shown):
                lines.append(f"{split.path}: … and {len(split.problems) - len(shown)} more")
        return lines


def _split_line(split: SplitReport, width: int, unit: str, max_seq_length: int | None) -> str:
    noun = "example" if split.count == 1 else "examples"
    text = f"{split.name:<{width}}  {split.path}  {split.count} {noun}"
    if split.format:
        text += f", {split.format}"
    if split.valid_count != split.count:
        text += f", {split.valid_count} valid"
    if split.token_lengths:
        s = sorted(split.token_lengths)
        text += (
            f"; {unit} min {s[0]} / median {_percentile(s, 50)} / "
            f"p95 {_percentile(s, 95)} / max {s[-1]}"
        )
        if max_seq_length and split.length_unit == "tokens":
            if split.truncated:
                text += f"; {split.truncated} over {max_seq_length} (would be truncated)"
            else:
                text += f"; none over {max_seq_length}"
            if split.prompt_only:
                text += f", {split.prompt_only} with nothing left to train on"
    return text


def _percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def detect_format(record: dict) -> str | None:
    """mlx-lm's choice, in its order: prompt+completion, then messages, then text."""
    if "prompt" in record and "completion" in record:
        return "completions"
    if "messages" in record:
        return "chat"
    if "text" in record:
        return "text"
    return None


def _unknown_format_message(record: dict) -> str:
    keys = ", ".join(repr(k) for k in record) or "none"
    msg = f"unknown format: found keys {keys}; expected one of: {FORMAT_HELP}"
    if "prompt" in record:
        msg += " ('prompt' needs 'completion' beside it)"
    elif "completion" in record:
        msg += " ('completion' needs 'prompt' beside it)"
    return msg


def _check_string(record: dict, key: str, where: str = "") -> str | None:
    value = record.get(key)
    if key not in record:
        return f"missing key {key!r}{where}"
    if not isinstance(value, str):
        return f"{key!r}{where} must be a string, got {_json_type(value)}"
    if not value.strip():
        return f"{key!r}{where} is empty"
    return None


def _check_tools(record: dict) -> list[str]:
    if "tools" in record and record["tools"] is not None and not isinstance(record["tools"], list):
        return [f"'tools' must be an array of tool definitions, got {_json_type(record['tools'])}"]
    return []


def _check_chat(record: dict, mask_prompt: bool) -> list[str]:
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        got = "an empty array" if isinstance(messages, list) else _json_type(messages)
        return [f"'messages' must be a non-empty array of {{role, content}} objects, got {got}"]
    errors = _check_tools(record)
    roles = []
    for i, msg in enumerate(messages):
        where = f" in messages[{i}]"
        if not isinstance(msg, dict):
            errors.append(f"messages[{i}] must be an object with 'role' and 'content', got {_json_type(msg)}")
            continue
        role = msg.get("role")
        if "role" not in msg:
            errors.append(f"missing key 'role'{where}")
        elif role not in ROLES:
            errors.append(f"role {role!r}{where} is not one of: {', '.join(ROLES)}")
        roles.append(role)
        if role == "assistant" and msg.get("tool_calls") and not msg.get("content"):
            continue  # a tool call needs no text
        err = _check_string(msg, "content", where)
        if err:
            errors.append(err)
    if "assistant" not in roles:
        errors.append("no message with role 'assistant': nothing for the model to learn")
    elif mask_prompt and roles and roles[-1] in ROLES and roles[-1] != "assistant":
        errors.append(
            f"last message is from {roles[-1]!r}: with mask_prompt only the last message is "
            "trained on, so it should be the assistant's"
        )
    return errors


def check_record(record, fmt: str, mask_prompt: bool = False) -> list[str]:
    """The problems of one parsed line already known to be in format `fmt`."""
    if fmt == "chat":
        return _check_chat(record, mask_prompt)
    if fmt == "completions":
        errors = [e for e in (_check_string(record, "prompt"), _check_string(record, "completion")) if e]
        return errors + _check_tools(record)
    err = _check_string(record, "text")
    return [err] if err else []


def _char_length(record: dict, fmt: str) -> int:
    if fmt == "chat":
        return sum(len(m.get("content") or "") for m in record["messages"] if isinstance(m, dict))
    if fmt == "completions":
        return len(record["prompt"]) + len(record["completion"])
    return len(record["text"])


def _read_lines(path: Path):
    """Yield (line number, byte offset of the line, raw bytes without the line ending)."""
    data = path.read_bytes()
    offset = 0
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        yield number, offset, raw.rstrip(b"\r\n")
        offset += len(raw)


def _tokenizer_name(tokenizer) -> str:
    name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    return Path(name).name if os.sep in str(name) else str(name)


def _has_chat_template(tokenizer) -> bool:
    flag = getattr(tokenizer, "has_chat_template", None)
    if isinstance(flag, bool):
        return flag
    return getattr(tokenizer, "chat_template", None) is not None


def check_file(
    path: Path,
    name: str | None = None,
    tokenizer=None,
    max_seq_length: int | None = None,
    mask_prompt: bool = False,
    batch_size: int | None = None,
) -> SplitReport:
    """Check one .jsonl file; `name` is its split (default: the file's stem)."""
    report = SplitReport(
        name=name or path.stem, path=path, length_unit="tokens" if tokenizer is not None else "characters"
    )
    problems = report.problems

    def problem(line: int, message: str) -> None:
        problems.append(Problem(path, line, message))

    good: list[tuple[int, dict]] = []  # (line number, record) of lines without problems
    first_format: tuple[str, int] | None = None
    try:
        lines = list(_read_lines(path))
    except OSError as exc:
        problem(0, f"cannot read: {exc.strerror or exc}")
        return report
    for number, offset, raw in lines:
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            problem(1, "file starts with a UTF-8 byte order mark (BOM), which JSON readers reject: "
                    "save it as UTF-8 without BOM")
            raw = raw[3:]
        if not raw.strip():
            problem(number, "empty line: mlx-lm reads every line as JSON, so remove it "
                    "(blank lines at the end of the file too)")
            continue
        report.count += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem(number, f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset "
                    f"{offset + exc.start} of the file (column {exc.start + 1} of the line); "
                    "save the file as UTF-8")
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            problem(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            problem(number, "invalid JSON: nested too deeply")
            continue
        if not isinstance(record, dict):
            problem(number, f"expected one JSON object per line, got {_json_type(record)}")
            continue
        fmt = detect_format(record)
        if fmt is None:
            problem(number, _unknown_format_message(record))
            continue
        if first_format is None:
            first_format = (fmt, number)
            report.format = fmt
        elif fmt != first_format[0]:
            problem(number, f"line is in {fmt} format but the file's first example (line "
                    f"{first_format[1]}) is {first_format[0]}: one file must use one format")
            continue
        errors = check_record(record, fmt, mask_prompt)
        for err in errors:
            problem(number, err)
        if not errors:
            good.append((number, record))

    if report.format == "text" and mask_prompt:
        problem(0, "text format cannot be trained with mask_prompt on (mlx-lm refuses it): "
                "turn mask_prompt off or use the chat or completions format")
    if batch_size and 0 < report.count < batch_size:
        problem(0, f"{report.count} examples, fewer than batch_size {batch_size}: mlx-lm needs "
                "at least one full batch")

    if tokenizer is None:
        report.token_lengths = [_char_length(r, report.format) for _, r in good]
        return report
    if good and report.format in ("chat", "completions") and not _has_chat_template(tokenizer):
        problem(0, f"tokenizer {_tokenizer_name(tokenizer)} has no chat template, which "
                f"{report.format} data needs: use an instruct model or the text format")
        return report
    _measure_tokens(report, good, tokenizer, max_seq_length, mask_prompt and report.format != "text")
    return report


def _measure_tokens(report, good, tokenizer, max_seq_length, mask_prompt) -> None:
    if not good:
        return
    from mlx_lm.tuner.datasets import create_dataset

    config = SimpleNamespace(mask_prompt=mask_prompt)
    dataset = create_dataset([r for _, r in good], tokenizer, config)
    for number, record in good:
        try:
            tokens, offset = dataset.process(record)
        except Exception as exc:  # a template's own checks (role order, ...) end up here
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.problems.append(Problem(report.path, number, f"the tokenizer's chat template failed: {detail}"))
            continue
        n = len(tokens)
        report.token_lengths.append(n)
        if max_seq_length and n > max_seq_length:
            report.truncated += 1
        if max_seq_length and mask_prompt and offset >= max_seq_length:
            report.prompt_only += 1


def _alias_hint(folder: Path, split: str) -> str:
    for alias in _SPLIT_ALIASES[split]:
        if (folder / f"{alias}.jsonl").is_file():
            return f" (found {alias}.jsonl: mlx-lm reads only {split}.jsonl, rename it)"
    return ""


def check_data(
    path: Path,
    tokenizer=None,
    max_seq_length: int | None = None,
    *,
    mask_prompt: bool = False,
    batch_size: int | None = None,
) -> DataReport:
    """Check a data folder (train/valid/test.jsonl) or a single .jsonl file.

    Raises UserError only when `path` itself is unusable (missing, not a folder or .jsonl);
    everything about its contents is in the returned report. `mask_prompt` and `batch_size`
    (a profile's) enable the checks that depend on them.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; expected a data folder with "
                        "train.jsonl and valid.jsonl, or a .jsonl file")
    name = _tokenizer_name(tokenizer) if tokenizer is not None else None
    kwargs = dict(tokenizer=tokenizer, max_seq_length=max_seq_length,
                  mask_prompt=mask_prompt, batch_size=batch_size)
    if path.is_file():
        if path.suffix != ".jsonl":
            raise UserError(f"{path}: expected a .jsonl file or a data folder")
        split = check_file(path, **kwargs)
        report = DataReport(path.parent, {split.name: split}, max_seq_length, name, single_file=True)
        if split.count == 0:
            report.folder_problems.append(Problem(path, 0, "no examples in this file"))
        return report
    if not path.is_dir():
        raise UserError(f"{path}: not a file or folder")

    report = DataReport(path, {}, max_seq_length, name)
    for split in SPLITS:
        file = path / f"{split}.jsonl"
        if file.is_file():
            report.splits[split] = check_file(file, split, **kwargs)
            if report.splits[split].count == 0 and split in REQUIRED_SPLITS:
                report.folder_problems.append(Problem(path, 0, f"{split}.jsonl has no examples"))
        elif split == "train":
            report.folder_problems.append(Problem(
                path, 0, f"train.jsonl missing: needed for training{_alias_hint(path, split)}"))
        elif split == "valid":
            report.folder_problems.append(Problem(
                path, 0, f"valid.jsonl missing: needed for validation loss{_alias_hint(path, split)}"))
    return report


def default_model_dir() -> Path:
    """The demo model's folder, whose tokenizer `data check` uses when no model is named."""
    return paths.models_dir() / DEMO_MODEL


def load_tokenizer_for(model_spec: str | Path):
    """The tokenizer of a local model folder (a path, or a name under models/); no weights loaded.

    Never downloads: a spec that is not a local folder is a UserError.
    """
    spec = Path(model_spec).expanduser()
    candidates = [spec] if spec.is_absolute() else [spec, paths.models_dir() / spec]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None:
        tried = " or ".join(str(c) for c in candidates)
        raise UserError(f"no model folder at {tried}; expected a local MLX model folder "
                        "with tokenizer.json / tokenizer_config.json")
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise UserError(f"{folder}: no tokenizer files (tokenizer.json, tokenizer_config.json) in it")
    from mlx_lm.utils import load_tokenizer

    try:
        return load_tokenizer(folder)
    except Exception as exc:  # broken files: say which folder and why, no traceback
        raise UserError(f"{folder}: cannot load its tokenizer: {exc}") from None
