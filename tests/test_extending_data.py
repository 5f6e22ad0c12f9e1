"""A new dataset is one module and one registry line; the registry imports a module lazily."""

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

from ecgdepth import data, spec, sweep, validation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The whole dataset: the protocol of ecgdepth/data/base.py (DatasetModule), nothing else.
TOY_MODULE = '''
"""Toy: class 1 windows carry a sinusoid, class 0 windows are noise."""

import numpy as np

from ecgdepth.data import base

NAME = 'toy'
DEFAULTS = {
    'num_train': 64,  # Examples in the training split (validation and test: half as many).
    'window': 16,  # Samples per example.
    'seed': 0,  # Generation seed.
}
RULES = {
    'num_train': base.POSITIVE_INT,
    'window': (int, lambda v: v >= 4, 'an integer >= 4 (a toy window)'),
    'seed': base.NON_NEGATIVE_INT,
}
RUNLOCAL = {'*': {'data.max_eval_examples': 16}}
task = base.classification_task


def check(config, task):
    base.require_classification(NAME, task)
    if config.data.window % 2:
        raise ValueError(
            f'config.data.window={config.data.window}: the toy sinusoid needs an even window.'
        )


def input_spec(config):
    return base.InputSpec(config.data.window, 1, 2, 0, False)


def _split(n, window, rng):
    y = (np.arange(n) % 2).astype(np.int32)
    x = rng.normal(0, 0.3, (n, window, 1)).astype(np.float32)
    x[..., 0] += y[:, None] * np.sin(np.arange(window) / 2.0).astype(np.float32)
    return {'x': x, 'y': y}


def load(data_config):
    rng = np.random.default_rng(data_config.seed)
    sizes = {'train': data_config.num_train, 'validation': data_config.num_train // 2}
    sizes['test'] = sizes['validation']
    splits = {split: _split(n, data_config.window, rng) for split, n in sizes.items()}
    return base.Dataset(splits, ('noise', 'wave'), 1.0, NAME)
'''

# A config file that registers it: the one registry line, then any model family's config.
TOY_CONFIG = """
from ecgdepth import data, spec

data.register('toy', 'toy_data')


def get_config(arg=None):
    return spec.family_config('dilated_cnn', arg)
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy module importable from tmp_path and registered (for this test only)."""
    (tmp_path / 'toy_data.py').write_text(textwrap.dedent(TOY_MODULE))
    (tmp_path / 'toy_config.py').write_text(textwrap.dedent(TOY_CONFIG))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(data.DATASETS, 'toy', 'toy_data')
    return tmp_path


def test_a_toy_dataset_trains_through_launch(toy):
    workdir = toy / 'run'
    env = dict(os.environ, JAX_PLATFORMS='cpu')
    env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO, str(toy), env.get('PYTHONPATH')) if p)
    result = subprocess.run(
        [
            sys.executable,
            'launch.py',
            f'--config={toy / "toy_config.py"}:data=toy,runlocal,depth=2,width=8',
            f'--workdir={workdir}',
            '--config.train.num_steps=20',
            '--config.train.eval_every=10',
            '--config.train.log_every=10',
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.load(open(workdir / 'summary.json'))
    assert summary['status'] == 'done' and summary['dataset'] == 'toy'
    config = json.load(open(workdir / 'config.json'))
    assert config['data'] == {
        'name': 'toy',
        **data.base.COMMON_DEFAULTS,
        'max_eval_examples': 16,  # The toy's runlocal.
        'num_train': 64,
        'window': 16,
        'seed': 0,
    }


def test_a_bad_toy_field_fails_validation_with_the_toys_message(toy):
    config = spec.family_config('dilated_cnn', 'data=toy,runlocal')
    validation.validate_config(config)
    assert sweep.input_spec(config) == (16, 1, 2, 0, False)
    config.data.window = 2
    demand = r'config.data.window must be an integer >= 4 \(a toy window\), got 2'
    with pytest.raises(validation.ConfigError, match=demand):
        validation.validate_config(config)
    config.data.window = 15
    with pytest.raises(validation.ConfigError, match='the toy sinusoid needs an even window'):
        validation.validate_config(config)
    del data.DATASETS['toy']
    with pytest.raises(ValueError, match="data='toy' is not a dataset"):
        spec.family_config('dilated_cnn', 'data=toy')


def test_sweep_workers_register_the_datasets_the_launching_process_knows(toy, monkeypatch):
    from ecgdepth import trial

    payload = trial._payload([], str(toy / 'sweep'), False, 60.0)
    monkeypatch.delitem(data.DATASETS, 'toy')
    monkeypatch.setattr(sys, 'stdin', io.StringIO(payload))
    assert trial._worker_main([]) == 0
    assert data.DATASETS['toy'] == 'toy_data'


def test_a_module_without_the_protocol_is_named(toy):
    (toy / 'half_data.py').write_text("NAME = 'half'\nDEFAULTS = {}\n")
    data.register('half', 'half_data')
    try:
        with pytest.raises(TypeError, match=r"half_data does not implement .* lacks \['RULES'"):
            data.dataset('half')
    finally:
        del data.DATASETS['half']


def test_building_and_checking_a_synthetic_config_imports_no_tfds():
    """Building, checking and sizing a config of the default data, and the results modules,
    import no TFDS (the real datasets' modules and loading data do)."""
    script = textwrap.dedent(
        """
        import sys
        from ecgdepth import findings, results, spec, sweep, validation
        config = spec.family_config('mi_mlp', 'runlocal')
        validation.validate_config(config)
        sweep.count_model_params(config)
        assert 'tensorflow_datasets' not in sys.modules
        """
    )
    env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
