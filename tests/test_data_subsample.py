"""Training-data fractions and evaluation caps: deterministic, stratified subsets."""

import numpy as np

from ecgdepth import data
from ecgdepth.data import subsample


def make_dataset():
    def split(n, seed):
        rng = np.random.default_rng(seed)
        y = np.array([0] * (n - n // 10 - 1) + [1] * (n // 10) + [2], np.int32)
        return {'x': rng.normal(size=(n, 8, 1)).astype(np.float32), 'y': y}

    return data.Dataset(
        splits={'train': split(200, 0), 'validation': split(50, 1), 'test': split(50, 2)},
        class_names=('a', 'b', 'c'),
        sample_rate=100.0,
        name='toy',
    )


def test_train_fraction_is_stratified_and_keeps_rare_classes():
    dataset = make_dataset()
    small = subsample.limit(dataset, train_fraction=0.25)
    counts = np.bincount(small.splits['train']['y'], minlength=3)
    assert counts.tolist() == [round(0.25 * 179), 5, 1]  # The single class-2 example is kept.
    assert small.splits['validation']['y'].shape == (50,)
    again = subsample.limit(dataset, train_fraction=0.25)
    np.testing.assert_array_equal(small.splits['train']['x'], again.splits['train']['x'])
    assert small.info['train_fraction'] == 0.25


def test_eval_cap_takes_a_fixed_random_subset():
    dataset = make_dataset()
    capped = subsample.limit(dataset, max_eval_examples=20)
    for name in ('validation', 'test'):
        assert len(capped.splits[name]['y']) == 20
    assert len(capped.splits['train']['y']) == 200
    index = subsample.random_indices(50, 20)
    np.testing.assert_array_equal(capped.splits['test']['x'], dataset.splits['test']['x'][index])
    assert not np.array_equal(index, np.arange(20))  # Not just the first records' examples.


def test_no_limits_returns_the_dataset_unchanged():
    dataset = make_dataset()
    assert subsample.limit(dataset) is dataset
