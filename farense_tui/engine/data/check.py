"""Check a training data set before training: the same files, formats and token lengths mlx-lm sees.

A data folder holds train.jsonl and valid.jsonl (test.jsonl optional), one JSON object per line,
all lines of a file in one of mlx-lm's formats, or in the preference format of DPO and ORPO:

- chat:        {"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]?}
- completions: {"prompt": "...", "completion": "..."}
- text:        {"text": "..."}
- preference:  {"prompt": "..." or "messages": [...], "chosen": "...", "rejected": "..."}

Every problem is reported with its file and 1-based line number and says what was expected; the
check keeps going after a problem so that one run lists them all.

Policy decisions (kept in line with mlx-lm's own loader, which runs ``json.loads`` on every line
of the file as read in text mode):

- Blank lines are problems everywhere, at the end of the file too: ``json.loads("\\n")`` fails,
  so mlx-lm would stop on them. (A final newline after the last object is fine: that is not a
  blank line.)
- Lines are split as Python's text mode splits them (``\\n``, ``\\r\\n`` and a lone ``\\r``).
- A UTF-8 byte order mark is a problem (Python's ``json`` rejects it).
- The format of a file is decided as mlx-lm decides it (a preference pair first): by its first
  example, in the order completions (prompt + completion) → chat (messages) → text. A line in
  another format is a problem, since mlx-lm would fail on it mid-training.
- An assistant message that carries ``tool_calls`` may have empty or missing content.

With a tokenizer, lengths are token counts computed exactly as training computes them, through
``mlx_lm.tuner.datasets.create_dataset(...).process(d)`` (chat template included); without one
they are character counts of the text fields: truncation is not counted, but an example past a
conservative characters-per-token bound is warned about by line.

This module is part of the headless engine: it must never import Textual. mlx-lm and
transformers are imported only when a tokenizer is used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from farense_tui.engine import paths
from farense_tui.engine.data.masking import masks_prompt
from farense_tui.engine.data.records import (
    char_length,
    check_record,
    detect_format,
    json_type,
    unknown_format_message,
)
from farense_tui.engine.data.report import (
    REQUIRED_SPLITS,
    SPLITS,
    DataReport,
    Problem,
    SplitReport,
)
from farense_tui.engine.data.token_view import empty_mask_reason, processor
from farense_tui.engine.errors import UserError
from farense_tui.engine.models.demo import DEMO_MODEL
from farense_tui.engine.models.local import local_folder

HUGE = 2  # an example over this many times max_seq_length is warned about by line, not only counted
# Without a tokenizer, a length bound: BPE vocabularies average 3-5 characters a token on prose; no
# common one averages over 16, so chars/16 tokens is a count the example is (almost surely) above.
CHARS_PER_TOKEN_BOUND = 16

# Other names people give their splits; mlx-lm reads only train/valid/test.jsonl.
_SPLIT_ALIASES = {
    "train": ("training", "trn"),
    "valid": ("val", "validation", "dev", "eval"),
    "test": ("testing", "tst"),
}


def _read_lines(path: Path):
    """Yield (line number, byte offset of the line, raw bytes without the line ending)."""
    data = path.read_bytes()
    offset = 0
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        yield number, offset, raw.rstrip(b"\r\n")
        offset += len(raw)


class _NonStandard(ValueError):
    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def _reject_constant(literal: str):
    """Python's json accepts NaN and Infinity; JSON (and most other readers of the file) do not."""
    raise _NonStandard(literal)


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
        name=name or path.stem,
        path=path,
        length_unit="tokens" if tokenizer is not None else "characters",
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
            problem(
                1,
                "file starts with a UTF-8 byte order mark (BOM), which JSON readers reject: "
                "save it as UTF-8 without BOM",
            )
            raw = raw[3:]
        if not raw.strip():
            problem(
                number,
                "empty line: mlx-lm reads every line as JSON, so remove it "
                "(blank lines at the end of the file too)",
            )
            continue
        report.count += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem(
                number,
                f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset "
                f"{offset + exc.start} of the file (column {exc.start + 1} of the line); "
                "save the file as UTF-8",
            )
            continue
        try:
            record = json.loads(text, parse_constant=_reject_constant)
        except _NonStandard as exc:
            problem(
                number,
                f"non-standard JSON literal {exc.literal} (column {text.find(exc.literal) + 1}): "
                "JSON has no NaN or Infinity; write a number, a string or null",
            )
            continue
        except json.JSONDecodeError as exc:
            problem(number, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        except RecursionError:
            problem(number, "invalid JSON: nested too deeply")
            continue
        if not isinstance(record, dict):
            problem(number, f"expected one JSON object per line, got {json_type(record)}")
            continue
        fmt = detect_format(record)
        if fmt is None:
            problem(number, unknown_format_message(record))
            continue
        if first_format is None:
            first_format = (fmt, number)
            report.format = fmt
        elif fmt != first_format[0]:
            problem(
                number,
                f"line is in {fmt} format but the file's first example (line "
                f"{first_format[1]}) is {first_format[0]}: one file must use one format",
            )
            continue
        errors = check_record(record, fmt, mask_prompt)
        for err in errors:
            problem(number, err)
        if not errors:
            good.append((number, record))

    if batch_size and 0 < report.count < batch_size:
        problem(
            0,
            f"{report.count} examples, fewer than batch_size {batch_size}: mlx-lm needs "
            "at least one full batch",
        )

    if tokenizer is None:
        report.token_lengths = [char_length(r, report.format) for _, r in good]
        if max_seq_length:
            _warn_long_characters(report, good, max_seq_length)
        return report
    if (
        good
        and report.format in ("chat", "completions", "preference")
        and not _has_chat_template(tokenizer)
    ):
        problem(
            0,
            f"tokenizer {_tokenizer_name(tokenizer)} has no chat template, which "
            f"{report.format} data needs: use an instruct model or the text format",
        )
        return report
    _measure_tokens(
        report, good, tokenizer, max_seq_length, masks_prompt(report.format, mask_prompt)
    )
    return report


def _warn_long_characters(report, good, max_seq_length) -> None:
    limit = HUGE * max_seq_length * CHARS_PER_TOKEN_BOUND
    for (number, _), chars in zip(good, report.token_lengths):
        if chars > limit:
            report.warnings.append(
                Problem(
                    report.path,
                    number,
                    (
                        f"example of {chars} characters: at least "
                        f"~{chars // CHARS_PER_TOKEN_BOUND} tokens "
                        f"(a conservative {CHARS_PER_TOKEN_BOUND} characters per token; no "
                        f"tokenizer given), over "
                        f"{HUGE}× max_seq_length {max_seq_length}: most of it would be cut; split "
                        f"it, or give a "
                        "model to count its tokens"
                    ),
                )
            )


def _measure_tokens(report, good, tokenizer, max_seq_length, mask_prompt) -> None:
    if not good:
        return
    process = processor(report.format, [r for _, r in good], tokenizer, mask_prompt)
    for number, record in good:
        try:
            tokens, offset = process(record)
        except Exception as exc:  # a template's own checks (role order, ...) end up here
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            report.problems.append(
                Problem(report.path, number, f"the tokenizer's chat template failed: {detail}")
            )
            continue
        n = len(tokens)
        report.token_lengths.append(n)
        if max_seq_length and n > max_seq_length:
            report.truncated += 1
        if max_seq_length and n > HUGE * max_seq_length:
            report.warnings.append(
                Problem(
                    report.path,
                    number,
                    (
                        f"example of {n} tokens, over {HUGE}× max_seq_length {max_seq_length}: "
                        f"only its first "
                        f"{max_seq_length} are seen in training; split it or raise max_seq_length"
                    ),
                )
            )
        # An example that trains on nothing is an error: mlx-lm's loss divides by zero on it.
        if reason := empty_mask_reason(n, offset, max_seq_length):
            report.empty_mask += 1
            report.problems.append(Problem(report.path, number, reason))
        elif max_seq_length and n > max_seq_length:
            report.answer_cut += 1


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
        raise UserError(
            f"{path}: no such file or folder; expected a data folder with "
            "train.jsonl and valid.jsonl, or a .jsonl file"
        )
    name = _tokenizer_name(tokenizer) if tokenizer is not None else None
    kwargs = dict(
        tokenizer=tokenizer,
        max_seq_length=max_seq_length,
        mask_prompt=mask_prompt,
        batch_size=batch_size,
    )
    if path.is_file():
        if path.suffix != ".jsonl":
            raise UserError(f"{path}: expected a .jsonl file or a data folder")
        split = check_file(path, **kwargs)
        report = DataReport(
            path.parent, {split.name: split}, max_seq_length, name, single_file=True
        )
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
            report.folder_problems.append(
                Problem(
                    path, 0, f"train.jsonl missing: needed for training{_alias_hint(path, split)}"
                )
            )
        elif split == "valid":
            report.folder_problems.append(
                Problem(
                    path,
                    0,
                    f"valid.jsonl missing: needed for validation loss{_alias_hint(path, split)}",
                )
            )
    return report


def default_model_dir() -> Path:
    """The demo model's folder, whose tokenizer `data check` uses when no model is named."""
    return paths.models_dir() / DEMO_MODEL


def load_tokenizer_for(model_spec: str | Path):
    """The tokenizer of a local model folder (a path, or a name under models/); no weights loaded.

    Never downloads: a spec that is not a local folder is a UserError.
    """
    folder = local_folder(model_spec) or Path(model_spec).expanduser()
    if not folder.is_dir():
        raise UserError(
            f"no model folder at {model_spec} (a path, or a name in {paths.models_dir()}); "
            "expected a local MLX model folder with tokenizer.json / tokenizer_config.json"
        )
    if not any(
        (folder / f).is_file()
        for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
    ):
        raise UserError(
            f"{folder}: no tokenizer files (tokenizer.json, tokenizer_config.json) in it"
        )
    from mlx_lm.utils import load_tokenizer

    try:
        return load_tokenizer(folder)
    except Exception as exc:  # broken files: say which folder and why, no traceback
        raise UserError(f"{folder}: cannot load its tokenizer: {exc}") from None
