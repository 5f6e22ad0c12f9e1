"""Config files, the spec-string parser, and validation errors that name the field."""

import ml_collections
import pytest
from conftest import load_config, set_field

from ecgdepth import spec as spec_lib
from ecgdepth import validation

FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']


def get_config(family, arg=None):
    return load_config(f'{family}.py', arg)


@pytest.mark.parametrize('family', FAMILIES)
def test_every_family_config_is_valid(family):
    config = get_config(family)
    assert config.model.name == family
    validation.validate_config(config)
    validation.validate_config(get_config(family, 'runlocal'))


def test_spec_sets_model_fields_and_dotted_paths():
    config = get_config('lstm', 'depth=4,width=64,bidirectional,train.num_steps=7')
    assert (config.model.depth, config.model.width, config.model.bidirectional) == (4, 64, True)
    assert config.train.num_steps == 7
    assert config.optim.learning_rate == spec_lib.get_base_config().optim.learning_rate


def test_runlocal_shrinks_but_explicit_values_win():
    full = get_config('dilated_cnn')
    local = get_config('dilated_cnn', 'runlocal')
    assert local.train.num_steps < full.train.num_steps
    assert local.data.num_train < full.data.num_train
    assert local.model.width == spec_lib.RUNLOCAL['model.width']
    assert get_config('dilated_cnn', 'width=48,runlocal').model.width == 48


@pytest.mark.parametrize(
    'arg, message',
    [
        ('dpeth=3', "'model.dpeth' is not a config field"),
        ('depth=three', "model.depth='three': expected int"),
        ('residual=maybe', 'expected a boolean'),
        ('train.nope=1', "'train.nope' is not a config field"),
        ('depth', 'needs a value'),
        ('depth=2,depth=3', 'twice'),
    ],
)
def test_spec_errors_name_the_key(arg, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')):
        get_config('dilated_cnn', arg)


@pytest.mark.parametrize(
    'family, path, value, message',
    [
        ('dilated_cnn', 'model.depth', 0, 'config.model.depth must be an integer in'),
        ('lstm', 'model.dropout', 1.5, r'config.model.dropout must be a number in \[0, 1\)'),
        ('dilated_cnn', 'model.kernel_size', 0, 'config.model.kernel_size must be an integer >= 1'),
        (
            'dilated_cnn',
            'model.name',
            'transformer',
            "config.model.name 'transformer' is not a model",
        ),
        ('lstm', 'data.name', 'imagenet', "config.data.name 'imagenet' is not a dataset"),
        ('lstm', 'model.cell', 'lstmm', "config.model.cell must be one of 'lstm', 'gru', 'rnn'"),
        ('lstm', 'model.depth', 2.5, 'config.model.depth must be an integer'),
        ('lstm', 'model.residual', 1, 'config.model.residual must be a boolean'),
        ('mi_mlp', 'optim.learning_rate', float('nan'), 'config.optim.learning_rate must be'),
        ('mi_mlp', 'optim.name', 'adam', "config.optim.name must be one of 'adamw', 'sgd'"),
        ('lstm', 'loss.class_weights', 'heavy', 'config.loss.class_weights'),
        ('lstm', 'train.batch_size', 10**6, r'config.train.batch_size \(1000000\) exceeds'),
        ('lstm', 'optim.warmup_steps', 10**6, 'config.optim.warmup_steps'),
        ('mi_mlp', 'model.pool', 10**6, r'config.model.pool \(1000000\) exceeds'),
        ('lstm', 'data.variant', 'sinus', 'config.data.variant must be one of'),
        ('lstm', 'model.forget_bias', 'one', 'config.model.forget_bias must be a number'),
        ('lstm', 'model.forget_bias', 1e3, r'config.model.forget_bias must be a number in'),
        ('lstm', 'target_error', 0.0, r'config.target_error must be a number in \(0, 1\]'),
        ('lstm', 'target_metric', 'r2', "config.target_metric='r2' does not suit config.task"),
    ],
)
def test_validation_names_the_field(family, path, value, message):
    config = get_config(family)
    set_field(config, path, value)
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)


def test_a_field_of_another_family_is_rejected():
    config = get_config('lstm')
    with config.model.unlocked():
        config.model.kernel_size = 3
    with pytest.raises(
        validation.ConfigError, match=r"config.model has unknown field\(s\) \['kern"
    ):
        validation.validate_config(config)


def test_locked_config_rejects_new_keys():
    config = get_config('lstm')
    config.lock()
    with pytest.raises(AttributeError):
        config.model.dpeth = 3
    assert isinstance(config, ml_collections.ConfigDict)


def test_class_weights_parse():
    assert validation.parse_class_weights('none') == 'none'
    assert validation.parse_class_weights('1,2.5', 2) == (1.0, 2.5)
    with pytest.raises(validation.ConfigError, match='has 2 weights but the dataset has 4'):
        validation.parse_class_weights('1,2', 4)


def test_dataset_specific_checks_run_before_compute():
    """A motif of k beats that cannot fit the window fails at validation, naming both fields."""
    config = get_config('dilated_cnn', 'runlocal')
    config.data.variant = 'motif'
    config.data.motif_k = 12
    with pytest.raises(
        validation.ConfigError, match=r'config.data.motif_k=12 .*config.data.window'
    ):
        validation.validate_config(config)
    config.data.motif_k = 4  # Fits the runlocal window.
    validation.validate_config(config)


def test_data_spec_key_picks_the_dataset_section():
    with pytest.raises(ValueError, match="data='ecg5000' is not a dataset"):
        get_config('lstm', 'data=ecg5000')
    config = get_config('lstm', 'data=synthetic,runlocal')
    assert config.data.name == 'synthetic' and config.data.window == 750


@pytest.mark.parametrize(
    'path, value, message',
    [
        ('data.train_fraction', 0.0, r'config.data.train_fraction must be a number in \(0, 1\]'),
        ('data.max_eval_examples', -1, 'config.data.max_eval_examples must be an integer >= 0'),
        ('data.feature_norm', 'minmax', "config.data.feature_norm must be one of 'zscore', 'none'"),
    ],
)
def test_common_data_fields_are_checked(path, value, message):
    config = get_config('lstm')
    set_field(config, path, value)
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)
