"""Answer metrics of the evaluation protocol: exact match, token F1 (SQuAD-style) and ROUGE-L F.

Pure Python (no MLX), so a reader of results can rescore answers anywhere. Exact match and F1
compare normalised text: case and accents folded, punctuation dropped, spaces collapsed — the
protocol's normalisation, without SQuAD's English article removal. ROUGE-L comes from Google's
`rouge-score` with a tokenizer of ours, because its own turns every character outside a-z0-9
into a space and so splits "português" into "portugu" + "s".
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter

from rouge_score import rouge_scorer

_WORD = re.compile(
    r"[^\W_]+"
)  # runs of Unicode letters and digits; on ASCII, rouge-score's [a-z0-9]+


def normalize(text: str) -> str:
    """Case and accents folded, punctuation removed, whitespace collapsed: "O São Luís!" → "o sao
    luis"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(folded))


def exact_match(answer: str, reference: str) -> float:
    return float(normalize(answer) == normalize(reference))


def token_f1(answer: str, reference: str) -> float:
    """Harmonic mean of token precision and recall on the normalised bags of words (SQuAD's F1)."""
    got, want = normalize(answer).split(), normalize(reference).split()
    if not got or not want:
        return float(got == want)
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


class UnicodeTokenizer:
    """rouge-score's tokenizer interface: lowercase, then runs of Unicode letters and digits."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.casefold())


_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of tokens), as rouge-score computes it."""
    return _SCORER.score(reference, answer)["rougeL"].fmeasure


METRICS = {"exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l}


def score(answer: str, reference: str) -> dict[str, float]:
    return {name: fn(answer, reference) for name, fn in METRICS.items()}


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None with fewer than two values: there is no spread)."""
    if not values:
        raise ValueError("no values")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None
