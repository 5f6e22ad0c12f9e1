"""A dataset whose examples are windows of recordings is scored per recording (the windows'
logits averaged), by its benchmark's own score, which may also select the best step."""

import types

import numpy as np
import pytest

from ecgdepth import data, spec, validation
from ecgdepth.data import base
from ecgdepth.train import loop

WINDOW = 16


def _split(recordings: int, rng) -> dict:
    """Recording r has 1 + r % 3 windows; class 1 recordings carry a sinusoid."""
    group = np.repeat(np.arange(recordings), 1 + np.arange(recordings) % 3).astype(np.int32)
    y = (group % 2).astype(np.int32)
    x = rng.normal(0, 0.3, (len(y), WINDOW, 1)).astype(np.float32)
    x[..., 0] += y[:, None] * np.sin(np.arange(WINDOW) / 2.0).astype(np.float32)
    return {'x': x, 'y': y, 'group': group}


def _load(data_config):
    rng = np.random.default_rng(0)
    splits = {'train': _split(40, rng), 'validation': _split(20, rng), 'test': _split(20, rng)}
    return base.Dataset(splits, ('a', 'b'), 1.0, 'windowed', scores={'b_f1': ('b',)})


def _module() -> types.ModuleType:
    module = types.ModuleType('windowed_data')
    module.NAME = 'windowed'
    module.DEFAULTS, module.RULES = {}, {}
    module.RUNLOCAL = {'*': {}}
    module.task = base.classification_task
    module.check = lambda config, task: base.require_classification('windowed', task)
    module.input_spec = lambda config: base.InputSpec(WINDOW, 1, 2, 0, False)
    module.load = _load
    module.scores = lambda data_config: {'b_f1': ('b',)}
    return module


@pytest.fixture
def windowed(monkeypatch):
    monkeypatch.setitem(data.DATASETS, 'windowed', _module())


def _config(select_metric='b_f1'):
    config = spec.family_config('dilated_cnn', 'data=windowed,depth=2,width=8')
    config.train.num_steps, config.train.eval_every, config.train.log_every = 20, 10, 10
    config.train.batch_size, config.train.diagnostics = 8, False
    config.train.select_metric = select_metric
    config.optim.warmup_steps = 0
    return config


def test_recordings_are_scored_once_and_the_score_selects(windowed, tmp_path):
    config = _config()
    validation.validate_config(config)
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert summary['select_metric'] == 'b_f1' and summary['select_direction'] == 'max'
    windows = len(_split(20, np.random.default_rng(0))['y'])
    for split in ('val', 'test'):
        result = summary[split]
        assert result['recordings'] == 20 and result['windows'] == windows
        assert sum(c['support'] for c in result['per_class'].values()) == 20
        assert result['b_f1'] == pytest.approx(result['per_class']['b']['f1'])
        assert 0.0 <= result['window_accuracy'] <= 1.0


def test_an_unknown_score_is_a_config_error_naming_the_choices(windowed):
    with pytest.raises(validation.ConfigError, match=r"select_metric='a_f1'.*'b_f1'"):
        validation.validate_config(_config('a_f1'))


def test_the_evaluation_cap_keeps_whole_recordings():
    from ecgdepth.data import subsample

    arrays = _split(20, np.random.default_rng(0))
    capped = subsample.cap(arrays, 5)
    groups = np.unique(capped['group'])
    assert len(groups) == 5
    for g in groups:  # every window of a chosen recording, none of the others
        assert (capped['group'] == g).sum() == (arrays['group'] == g).sum()


def test_a_group_with_two_labels_is_refused():
    arrays = _split(4, np.random.default_rng(0))
    arrays['y'] = arrays['y'].copy()
    arrays['y'][np.flatnonzero(arrays['group'] == 2)[0]] = 1
    splits = {'train': arrays, 'validation': arrays, 'test': arrays}
    with pytest.raises(ValueError, match="split 'validation': group 2 holds examples of two"):
        base.Dataset(splits, ('a', 'b'), 1.0, 'bad')
