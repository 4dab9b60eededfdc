"""The protocol's answer metrics on hand-computed cases, accented Portuguese among them."""

import pytest
from rouge_score import rouge_scorer

from farense_tui.engine.evaluate.metrics import (
    UnicodeTokenizer,
    exact_match,
    mean_sd,
    normalize,
    rouge_l,
    score,
    token_f1,
)


def test_normalize_folds_case_and_accents_and_drops_punctuation():
    assert normalize("  O Estádio de São Luís,   em FARO! ") == "o estadio de sao luis em faro"
    assert normalize("«de Faro»: 5.º lugar") == "de faro 5 o lugar"


def test_exact_match_after_normalisation():
    assert exact_match("Preto e branco.", "preto  e Branco") == 1.0
    assert exact_match("Estadio de Sao Luis", "Estádio de São Luís") == 1.0
    assert exact_match("Preto.", "Preto e branco.") == 0.0


def test_token_f1_by_hand():
    # 5 answer tokens, 3 reference tokens, 3 in common: P 3/5, R 1 -> F1 0.75
    assert token_f1("o preto e o branco", "preto e branco") == pytest.approx(0.75)
    # accents folded: 3 of 3 answer tokens in the 4 reference tokens -> 2 * 1 * 3/4 / (7/4) = 6/7
    assert token_f1("Estádio São Luís", "estadio de sao luis") == pytest.approx(6 / 7)
    assert token_f1("Lyon", "Marselha") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "algo") == 0.0


def test_portuguese_stays_one_token_for_rouge_l():
    assert UnicodeTokenizer().tokenize("Fala Português!") == ["fala", "português"]
    # LCS "português europeu" = 2 of 3 tokens each side -> F 2/3
    assert rouge_l("fala português europeu", "em português europeu") == pytest.approx(2 / 3)
    # rouge-score's own tokenizer splits the word ("portugu" + "s") and scores 3/4 instead
    default = rouge_scorer.RougeScorer(["rougeL"]).score(
        "em português europeu", "fala português europeu"
    )
    assert default["rougeL"].fmeasure == pytest.approx(0.75)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("the cat sat on the mat", "the cat is on the mat"),
        ("Police killed the gunman.", "The gunman was killed by police!"),
        ("a b c d e", "e d c b a"),
        ("Founded in 1910, in Faro", "It was founded on 1 April 1910 in Faro."),
    ],
)
def test_rouge_l_equals_rouge_score_on_ascii(answer, reference):
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(reference, answer)["rougeL"].fmeasure
    assert rouge_l(answer, reference) == pytest.approx(expected)


def test_score_and_mean_sd():
    assert score("Preto e branco.", "Preto e branco.") == {
        "exact_match": 1.0,
        "token_f1": 1.0,
        "rouge_l": 1.0,
    }
    mean, sd = mean_sd([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and sd == pytest.approx(0.2)
    assert mean_sd([0.4]) == (0.4, None)
