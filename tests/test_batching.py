"""The data order: a pure function of (seed, step), equal examples per step across batch splits."""

from __future__ import annotations

import pytest

from farense_tui.engine.errors import UserError
from farense_tui.engine.training.batching import StepOrder, micro_batches

LENGTHS = [5 + (i * 7) % 40 for i in range(50)]


def test_order_is_deterministic_and_covers_each_epoch_once():
    a, b = StepOrder(LENGTHS, 8, seed=3), StepOrder(LENGTHS, 8, seed=3)
    assert a.steps_per_epoch == 6
    epoch1 = [a.group_for(s) for s in range(1, 7)]
    assert epoch1 == [b.group_for(s) for s in range(1, 7)]
    flat = sorted(i for g in epoch1 for i in g)
    assert len(flat) == len(set(flat)) == 48
    assert [a.group_for(s) for s in range(7, 13)] != epoch1  # reshuffled next epoch
    assert a.epoch_of(6) == 1 and a.epoch_of(7) == 2
    assert [StepOrder(LENGTHS, 8, seed=4).group_for(s) for s in range(1, 7)] != epoch1


class FakeDataset(list):
    pass


def test_halving_the_batch_trains_the_same_examples_per_step():
    data = FakeDataset([(list(range(1, n + 1)), 0) for n in LENGTHS])
    group = StepOrder(LENGTHS, 8, seed=0).group_for(5)
    big = list(micro_batches(data, group, 4, 512))
    small = list(micro_batches(data, group, 2, 512))
    assert len(big) == 2 and len(small) == 4

    def rows(batches):
        return sorted(tuple(int(x) for x in row) for _, ls in batches for row in ls.tolist())

    assert rows(big) == rows(small)
    for tokens, lengths in big:
        assert (tokens.shape[1] - 1) % 32 == 0 or tokens.shape[1] == 512


def test_truncates_to_max_sequence_length():
    data = FakeDataset([(list(range(1, 301)), 0)] * 2)
    ((tokens, lengths),) = micro_batches(data, [0, 1], 2, 128)
    assert tokens.shape == (2, 128) and lengths.tolist() == [[0, 128], [0, 128]]


def test_too_little_data_is_a_clear_message():
    with pytest.raises(UserError, match="has 3 examples but one optimizer step needs 8"):
        StepOrder([10, 20, 30], 8, seed=0)


def test_validation_covers_every_example_including_the_last_partial_batch(
    tiny_model_dir, tiny_data
):
    """6 examples with batch 4: mlx-lm's evaluate() would score 4; ours scores all 6."""
    from mlx_lm import load
    from mlx_lm.tuner.trainer import default_loss

    from farense_tui.engine.training.evaluation import validation_loss
    from farense_tui.engine.training.splits import load_splits

    model, tokenizer = load(str(tiny_model_dir))
    valid = load_splits(tiny_data, tokenizer, mask_prompt=True).valid
    assert len(valid) == 6
    total = count = 0.0
    for i in range(len(valid)):  # one example at a time, weighted by its target tokens
        ((batch, lengths),) = micro_batches(valid, [i], 1, 256)
        loss, ntoks = default_loss(model, batch, lengths)
        total, count = total + loss.item() * ntoks.item(), count + ntoks.item()
    assert abs(validation_loss(model, valid, 4, 256) - total / count) < 1e-4
