"""DPO and ORPO losses equal their papers' formulas computed another way (full logits, numpy) on a
tiny batch; the preference data check names file and line for each bad pair."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_map
from mlx_lm.tuner.utils import linear_to_lora_layers

from farense_tui.engine.data.check import check_data, load_tokenizer_for
from farense_tui.engine.data.preference_set import load_preference_split
from farense_tui.engine.training.preference_objective import DPOObjective, ORPOObjective
from tests.preference_helpers import write_preference_data


@pytest.fixture(scope="module")
def tiny_lora(tiny_model_dir):
    from mlx_lm import load

    model, tokenizer = load(str(tiny_model_dir))
    model.freeze()
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    mx.random.seed(3)  # lora_b away from zero, so the policy is not the base
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.05, model.trainable_parameters()))
    mx.eval(model.parameters())
    model.eval()
    return model, tokenizer


def reference_sums(model, tokens, lengths) -> np.ndarray:
    """Each row's summed log-prob of its targets from full logits, by numpy: log-softmax, gather,
    mask."""
    logits = np.array(model(tokens[:, :-1]).astype(mx.float32), dtype=np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    targets = np.array(tokens[:, 1:])
    picked = np.take_along_axis(logp, targets[..., None], -1)[..., 0]
    steps = np.arange(1, targets.shape[1] + 1)
    lengths = np.array(lengths)
    mask = (steps >= lengths[:, :1]) & (steps <= lengths[:, 1:])
    return (picked * mask).sum(1), mask.sum(1)


def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


@pytest.mark.parametrize("chunk", [8, 1024])  # several chunks with a padded last one; one chunk
def test_dpo_loss_equals_the_formula_from_full_logits(tiny_lora, farense_home, chunk):
    model, tokenizer = tiny_lora
    pairs = load_preference_split(
        write_preference_data(farense_home / "pref") / "train.jsonl", tokenizer
    )
    objective = DPOObjective(model, beta=0.1, chunk=chunk)
    part = [0, 1, 2, 5]
    rng = np.random.default_rng(0)
    pairs.reference = (rng.normal(size=(len(pairs), 2)) * 3 - 20).astype(np.float32)
    tokens, lengths, positions, reference = next(objective.batches(pairs, part, 4, 256))
    loss, count, stats = objective.loss(model, tokens, lengths, positions, reference)

    sums, counts = reference_sums(model, tokens, lengths)
    ref = pairs.reference[part].astype(np.float64)
    chosen, rejected = 0.1 * (sums[:4] - ref[:, 0]), 0.1 * (sums[4:] - ref[:, 1])
    expected = -log_sigmoid(chosen - rejected).sum()
    assert count.item() == 4
    assert abs(loss.item() - expected) < 1e-5, (loss.item(), expected)
    assert np.allclose(
        np.array(stats),
        [counts.sum(), chosen.sum(), rejected.sum(), (chosen > rejected).sum()],
        atol=1e-5,
    )
    assert (
        counts.min() > 0 and (np.array(lengths)[:, 0] > 1).all()
    )  # replies scored, prompts masked


def test_orpo_loss_equals_the_formula_from_full_logits(tiny_lora, farense_home):
    model, tokenizer = tiny_lora
    pairs = load_preference_split(
        write_preference_data(farense_home / "pref") / "train.jsonl", tokenizer
    )
    objective = ORPOObjective(model, beta=0.1, chunk=8)
    tokens, lengths, positions = next(objective.batches(pairs, [3, 4, 7], 4, 256))
    loss, count, stats = objective.loss(model, tokens, lengths, positions)

    sums, counts = reference_sums(model, tokens, lengths)
    mean = sums / counts
    c, r = mean[:3], mean[3:]
    log_odds = (c - np.log1p(-np.exp(c))) - (r - np.log1p(-np.exp(r)))
    expected = (-c - 0.1 * log_sigmoid(log_odds)).sum()
    assert count.item() == 3
    assert abs(loss.item() - expected) < 1e-5, (loss.item(), expected)
    assert np.allclose(np.array(stats)[1:3], [0.1 * c.sum(), 0.1 * r.sum()], atol=1e-5)


def test_preference_data_check_names_file_and_line(tiny_model_dir, farense_home):
    folder = write_preference_data(farense_home / "pref", n_train=2)
    bad = [
        {"prompt": "Onde joga o Farense?", "chosen": "Em Faro."},  # line 3
        {"prompt": "Onde joga o Farense?", "chosen": "  ", "rejected": "Em Lisboa."},
        {"prompt": "Onde joga o Farense?", "chosen": "Em Faro.", "rejected": "Em Faro."},
        {"prompt": "Onde joga o Farense?", "chosen": 7, "rejected": "Em Lisboa."},
        {"chosen": "Em Faro.", "rejected": "Em Lisboa."},
        {
            "messages": [
                {"role": "user", "content": "Onde?"},
                {"role": "assistant", "content": "Ali."},
            ],
            "chosen": "Em Faro.",
            "rejected": "Em Lisboa.",
        },
    ]
    with open(folder / "train.jsonl", "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in bad)
    report = check_data(folder, load_tokenizer_for(tiny_model_dir), 256)
    problems = [str(p) for p in report.problems]
    train = folder / "train.jsonl"
    expected = [
        f"{train}:3: missing key 'rejected'",
        f"{train}:4: 'chosen' is empty",
        f"{train}:5: 'chosen' and 'rejected' are the same text",
        f"{train}:6: 'chosen' must be a string, got number",
        f"{train}:7: missing key 'prompt'",
        f"{train}:8: last message is from 'assistant'",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)
    assert len(problems) == len(expected)
    assert report.splits["train"].format == "preference" and report.splits["valid"].valid_count == 6
    assert min(report.splits["valid"].token_lengths) > 5  # measured by the chat template, in tokens


@pytest.mark.parametrize("kind", ["dpo", "orpo"])
def test_a_downshifted_split_of_the_step_trains_the_same(tiny_model_dir, farense_home, kind):
    """Recovery halves the batch and doubles accumulation: the step's pairs and its mean per pair,
    hence its update and statistics, stay the same."""
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm import load

    from farense_tui.engine.training.ranks import Ranks
    from farense_tui.engine.training.steps import CompiledSteps

    data = write_preference_data(farense_home / "pref")
    after = []
    for batch in (4, 2, 1):
        model, tokenizer = load(str(tiny_model_dir))
        model.freeze()
        linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
        mx.random.seed(3)
        model.update(
            tree_map(lambda p: mx.random.normal(p.shape) * 0.05, model.trainable_parameters())
        )
        pairs = load_preference_split(data / "train.jsonl", tokenizer)
        pairs.reference = np.linspace(-30, -10, 2 * len(pairs), dtype=np.float32).reshape(-1, 2)
        objective = (DPOObjective if kind == "dpo" else ORPOObjective)(model, beta=0.1, chunk=8)
        steps = CompiledSteps(model, optim.Adam(learning_rate=1e-2), Ranks(), objective)
        loss, tokens, _ = steps.run(objective.batches(pairs, [0, 3, 4, 9], batch, 256))
        after.append(
            (
                loss,
                tokens,
                steps.count,
                steps.stats,
                dict(tree_flatten(model.trainable_parameters())),
            )
        )
    (loss, tokens, count, stats, weights), *others = after
    assert count == 4 and tokens == stats[0] > 4 * 2
    for other_loss, other_tokens, other_count, other_stats, other_weights in others:
        assert abs(other_loss - loss) < 1e-5 and (other_tokens, other_count) == (tokens, count)
        assert np.allclose(other_stats, stats, atol=1e-4)
        assert (
            max(mx.abs(weights[k] - other_weights[k]).max().item() for k in weights) < 1e-4
        )  # Adam: ~lr·Δg/|g|


def test_evaluation_scores_a_preference_split_against_its_chosen_replies(farense_home):
    from farense_tui.engine.errors import UserError
    from farense_tui.engine.evaluate.examples import load_eval_set

    folder = write_preference_data(farense_home / "pref")
    data = load_eval_set(folder / "valid.jsonl", system="És um assistente.")
    assert data.format == "preference" and len(data.examples) == 6
    first = data.examples[0]
    assert first.reference == "Em 1910." and first.messages[0] == {
        "role": "system",
        "content": "És um assistente.",
    }
    with open(folder / "valid.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"prompt": "Onde?", "chosen": "Faro."}) + "\n")
    with pytest.raises(UserError, match=r"valid.jsonl:7: missing key 'rejected'"):
        load_eval_set(folder / "valid.jsonl")
