"""The real-ECG configs (configs/ecg/) build, validate and size without data, and `gpu` gives
their GPU-scale variant."""

import pytest
from conftest import load_config

from ecgdepth import data, validation

CONFIGS = {'ecg/mitbih.py': 'aami_macro_f1', 'ecg/cinc2017.py': 'challenge_f1'}


@pytest.mark.parametrize('path', sorted(CONFIGS))
def test_the_config_validates_and_selects_on_the_benchmark_score(path):
    config = load_config(path, None)
    validation.validate_config(config)
    assert config.train.select_metric == CONFIGS[path]
    assert config.train.select_metric in data.scores(config.data)


@pytest.mark.parametrize('path', sorted(CONFIGS))
def test_gpu_scales_up_and_spec_keys_still_override(path):
    cpu, gpu = load_config(path, None), load_config(path, 'gpu')
    validation.validate_config(gpu)
    assert gpu.model.width > cpu.model.width and gpu.train.num_steps > cpu.train.num_steps
    assert load_config(path, 'gpu,seed=3,width=48').model.width == 48
    assert load_config(path, 'gpu=false').model.width == cpu.model.width
