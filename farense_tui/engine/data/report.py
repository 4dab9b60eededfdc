"""The result of a data check: problems with file and line, and per split counts and lengths."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from farense_tui.engine.data.padding import padded_length

SPLITS = ("train", "valid", "test")
REQUIRED_SPLITS = ("train", "valid")
DEFAULT_PROBLEMS_PER_FILE = 20


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
    # examples that train on no token (the template masks all, or the prompt fills max_seq_length)
    empty_mask: int = 0
    answer_cut: int = 0  # examples that train on some tokens but whose end max_seq_length cuts
    warnings: list[Problem] = field(
        default_factory=list
    )  # worth a look, not in the way of training

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
    def warnings(self) -> list[Problem]:
        return [w for split in self.splits.values() for w in split.warnings]

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

        longest = [
            max(s.token_lengths)
            for n, s in self.splits.items()
            if n in REQUIRED_SPLITS and s.token_lengths and s.length_unit == "tokens"
        ]
        return padded_length(max(longest)) if longest else None

    def summary_lines(self) -> list[str]:
        unit = "tokens" if self.tokenizer_name else "characters"
        lines = []
        if self.tokenizer_name:
            lines.append(
                f"Lengths in tokens (tokenizer: {self.tokenizer_name}, chat template applied)"
            )
        else:
            lines.append(
                "Lengths in characters: no tokenizer given, so truncation is not counted; only "
                "examples "
                "past a conservative 16 characters-per-token bound are warned about (give a model "
                "to count tokens)"
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
            if split.empty_mask:
                text += f", {split.empty_mask} with nothing to train on"
    return text


def _percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]
