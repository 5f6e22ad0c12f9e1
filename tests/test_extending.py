"""A new model family is one module and one registry line: a toy family, written to a temporary
directory, validates with its own rules and trains through launch.py."""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from ecgdepth import models, spec, validation

TOY_FAMILY = '''
"""A toy family: pointwise Dense layers, then the time mean and the head."""

import flax.linen as nn
import jax.numpy as jnp

from ecgdepth import models
from ecgdepth.models import base
from ecgdepth.models.layers import classify, masked_mean
from ecgdepth.rules import choice

ACTIVATIONS = {'relu': nn.relu, 'tanh': jnp.tanh}


def default_config():
    model = base.common_config('toy')
    model.depth = 2
    model.width = 8
    model.activation = 'relu'
    return model


class PointwiseLayer(nn.Module):
    width: int
    activation: str
    residual: bool

    @nn.compact
    def __call__(self, x):
        h = ACTIVATIONS[self.activation](nn.Dense(self.width, name='dense')(x))
        return (x + h if self.residual else h), None


class Toy(base.Model):
    activation: str = 'relu'

    @nn.compact
    def __call__(self, x, *, train=False, mask=None, features=None):
        fields = dict(width=self.width, activation=self.activation, residual=self.residual)
        x = self.stack_layers(PointwiseLayer, x, fields)
        return classify(masked_mean(x, mask), features, self.num_classes)

    @nn.nowrap
    def receptive_field(self, sample_rate, window):
        return base.receptive_field_dict(1, sample_rate)  # Each position sees only itself.


FAMILY = models.register(
    base.Family(
        name='toy',
        module=Toy,
        display_name='Toy',
        defaults=default_config,
        rules={'activation': choice(*ACTIVATIONS)},
    )
)
'''

TOY_CONFIG = """
import toy_family  # noqa: F401  (registers the family)

from ecgdepth import spec


def get_config(arg=None):
    return spec.family_config('toy', arg)
"""

# runlocal made smaller still: a few steps on a short synthetic window.
TINY = (
    'runlocal,depth=3,width=8,data.window=250,data.num_train=256,data.num_validation=64,'
    'data.num_test=64,train.num_steps=20,train.eval_every=10,train.log_every=10,'
    'train.eval_train_examples=64'
)


@pytest.fixture
def toy_dir(tmp_path):
    """A directory holding toy_family.py and the config file toy.py."""
    (tmp_path / 'toy_family.py').write_text(textwrap.dedent(TOY_FAMILY))
    (tmp_path / 'toy.py').write_text(textwrap.dedent(TOY_CONFIG))
    return tmp_path


@pytest.fixture
def toy(toy_dir, monkeypatch):
    """The toy family registered in this process, and unregistered afterwards."""
    monkeypatch.syspath_prepend(str(toy_dir))
    monkeypatch.setattr(models, 'FAMILIES', dict(models.FAMILIES))
    yield importlib.import_module('toy_family').FAMILY
    sys.modules.pop('toy_family', None)


def test_the_toy_family_validates_with_its_own_rules(toy):
    assert models.get('toy') is toy
    assert models.display_name('toy') == 'Toy'
    config = spec.family_config('toy', 'runlocal,activation=tanh')
    validation.validate_config(config)
    assert models.build_model(config.model, 2).activation == 'tanh'
    config.model.activation = 'sigmoid'
    message = "config.model.activation must be one of 'relu', 'tanh', got 'sigmoid'"
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)
    config = spec.family_config('toy', 'depth=0')
    with pytest.raises(validation.ConfigError, match='config.model.depth must be an integer in'):
        validation.validate_config(config)


def test_the_toy_family_trains_through_launch(toy_dir, tmp_path, data_dir):
    workdir = tmp_path / 'run'
    env = dict(
        os.environ,
        JAX_PLATFORMS='cpu',
        ECGDEPTH_DATA_DIR=data_dir,
        PYTHONPATH=os.pathsep.join([str(toy_dir), REPO, os.environ.get('PYTHONPATH', '')]),
    )
    result = subprocess.run(
        [sys.executable, 'launch.py', f'--config={toy_dir}/toy.py:{TINY}', f'--workdir={workdir}'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.load(open(workdir / 'summary.json'))
    assert summary['status'] == 'done'
    # Three pointwise layers 1 -> 8 -> 8 -> 8 and the head 8 -> classes.
    classes = summary['val']['per_class'].keys()
    assert summary['params'] == (1 * 8 + 8) + 2 * (8 * 8 + 8) + 8 * len(classes) + len(classes)
    assert summary['receptive_field'] == 1  # The toy's own method, not the whole window.
    assert summary['receptive_field_s'] == pytest.approx(1 / 125.0)
    assert summary['flops_per_example'] > 0  # No analytic count: XLA's cost analysis.
    assert len(summary['grad_norm_per_layer_init']) == 3  # Its stack, layer by layer.
    assert json.load(open(workdir / 'config.json'))['model']['name'] == 'toy'
