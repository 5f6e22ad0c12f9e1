"""The `synthetic` dataset: generated ECG and sequence tasks, no download (the default data).

The generator and its exact rules are ecgdepth/data/synthetic_signals.py; its TFDS builder,
which stores each configuration once, is synthetic_tfds.py (imported by `load` only, so that
building and checking a synthetic config imports no TFDS). This module is the dataset's protocol
(ecgdepth/data/base.py: DatasetModule) and re-exports the generator's public names.
"""

from __future__ import annotations

from typing import Any

from ecgdepth.data import base
from ecgdepth.data.base import SPLITS
from ecgdepth.data.synthetic_signals import (  # noqa: F401  (the generator's public names)
    AF_BEAT,
    CHANNELS,
    CLASS_NAMES,
    DEFAULTS,
    ECG_VARIANTS,
    ECTOPIC,
    NORMAL,
    TASKS,
    VARIANTS,
    config_name,
    generate,
    motif_min_window,
    product_score,
    recall_min_window,
    recall_span_samples,
    split_rng,
    validate_params,
)

NAME = 'synthetic'
RULES: dict[str, base.Rule] = {
    'variant': base.choice(*VARIANTS),
    'seed': base.NON_NEGATIVE_INT,
    'num_train': base.POSITIVE_INT,
    'num_validation': base.POSITIVE_INT,
    'num_test': base.POSITIVE_INT,
    'window': (int, lambda v: v >= 8, 'an integer >= 8'),
    'sample_rate': base.POSITIVE,
    'motif_k': base.POSITIVE_INT,
    'noise': base.NON_NEGATIVE,
    'product_lag': base.POSITIVE_INT,
}
# The sequence tasks stay learnable in `runlocal` with short windows and more (cheap) steps.
_SEQUENCE_TASK_RUNLOCAL = {
    'data.window': 64,
    'train.num_steps': 300,
    'train.eval_every': 100,
    'train.checkpoint_every': 100,
    'optim.learning_rate': 3e-3,
}
RUNLOCAL: dict[str, dict[str, Any]] = {
    '*': {
        'data.num_train': 512,
        'data.num_validation': 128,
        'data.num_test': 128,
        'data.window': 750,  # 6 s at 125 Hz: a motif of k = 4 still fits.
    },
    'adding': _SEQUENCE_TASK_RUNLOCAL,
    'product': _SEQUENCE_TASK_RUNLOCAL,
}


# --------------------------------------------------------------------------------------------
# The data protocol (ecgdepth/data/base.py: DatasetModule).
# --------------------------------------------------------------------------------------------


def params_from_config(data_config: Any) -> dict[str, Any]:
    """Picks the generation parameters out of ``config.data`` (missing keys -> DEFAULTS)."""
    return validate_params(base.pick_params(data_config, DEFAULTS))


def task(data_config: Any) -> str | None:
    """The task of config.data.variant (None for an unknown variant: `check` names it)."""
    return TASKS.get(data_config.get('variant', DEFAULTS['variant']))


def check(config: Any, task: str) -> None:
    """The generation parameters, the task of the variant, and a batch within the train split."""
    params = params_from_config(config.data)
    variant, wanted = params['variant'], TASKS[params['variant']]
    if task != wanted:
        raise ValueError(
            f'config.data.variant={variant!r} is a {wanted} task but config.task is {task!r}; '
            f'set config.task={wanted!r} (spec key task={wanted}).'
        )
    if config.train.batch_size > params['num_train']:
        raise ValueError(
            f'config.train.batch_size ({config.train.batch_size}) exceeds config.data.num_train '
            f'({params["num_train"]}).'
        )


def input_spec(config: Any) -> base.InputSpec:
    params = params_from_config(config.data)
    variant = params['variant']
    outputs = 1 if TASKS[variant] == 'regression' else len(CLASS_NAMES[variant])
    return base.InputSpec(params['window'], CHANNELS[variant], outputs, 0, False)


def load(data_config: Any) -> base.Dataset:
    """Registry loader for ``config.data.name == 'synthetic'``: generated once into TFDS
    (ecgdepth/data/synthetic_tfds.py), then read back."""
    from ecgdepth.data import synthetic_tfds

    params = params_from_config(data_config)
    data_dir = base.resolve_data_dir(data_config.get('data_dir', ''))
    builder = synthetic_tfds.load_builder(params, data_dir)
    splits = {split: synthetic_tfds.read_split(builder, split) for split in SPLITS}
    names, variant_task = CLASS_NAMES[params['variant']], TASKS[params['variant']]
    for split, arrays in splits.items():
        y = arrays['y']
        if variant_task == 'regression':
            note = f'; target mean {float(y.mean()):.3f}, var {float(y.var()):.3f}'
        else:
            note = base.class_counts(y, names)
        base.log_split(f'synthetic/{params["variant"]}', split, arrays, note)
    info = {}
    if params['variant'] == 'recall':  # Recorded in the summary: findings mark it on plots.
        info['motif_span_samples'] = recall_span_samples(params['motif_k'], params['sample_rate'])
    return base.Dataset(
        splits=splits,
        class_names=names,
        sample_rate=params['sample_rate'],
        name=f'synthetic/{params["variant"]}',
        info=info,
        task=variant_task,
    )
