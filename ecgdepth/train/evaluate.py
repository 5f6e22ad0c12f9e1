"""External validation: a finished run's selected params scored on other data.

`launch.py --workdir=W --evaluate=NAME [--config.data.FIELD=VALUE ...] [--eval_split=all]`
reads W's config.json, applies the data overrides (another manual_dir, database, record set,
lead), scores the params validation selected (W/best_params.msgpack) on that data and writes
W/eval/NAME/summary.json, whose `test` has the layout of the run's own `test`. Only
config.data may change, and the new data must give the model the inputs it was trained on
(classes, window, sample rate, side features, mask): anything else is an error before data are
loaded. Side features are standardised with the run's own training statistics (summary.json:
feature_norm), never with statistics of the data being scored.
"""

from __future__ import annotations

import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from ecgdepth import data as data_lib
from ecgdepth import distributed, files, models, spec, validation
from ecgdepth import workdir as workdir_lib
from ecgdepth.data import feature_norm
from ecgdepth.data.base import SPLITS
from ecgdepth.train import members as members_lib
from ecgdepth.train import programs
from ecgdepth.train import summary as summary_lib

SPLIT_CHOICES = ('all', *SPLITS)
# config.data fields that must keep the run's value whatever the new data.
SAME_DATA_FIELDS = ('name', 'sample_rate', 'variant', 'feature_norm')


def _error(message: str) -> validation.ConfigError:
    return validation.ConfigError(message)


def run_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a finished run in `workdir` trained with, and check that it can be scored."""
    config = spec.from_workdir(workdir)
    summary = workdir_lib.read_summary(workdir)
    if summary is None or summary.status != workdir_lib.DONE:
        status = None if summary is None else summary.status
        raise _error(f'{workdir} holds no finished run (status {status}): nothing to score.')
    if summary.members not in (None, workdir_lib.UNSET):
        raise _error(
            f'{workdir} is a vmapped-seeds group: pass one seed, e.g. --workdir={workdir}'
            f'/{workdir_lib.member_name(config.seed)}.'
        )
    if not os.path.isfile(os.path.join(workdir, workdir_lib.BEST_PARAMS_FILE)):
        raise _error(
            f'{workdir} has no {workdir_lib.BEST_PARAMS_FILE} (trained before it '
            'was written, or it never evaluated): retrain it to score it.'
        )
    return config


def check_compatible(trained: ml_collections.ConfigDict, config: ml_collections.ConfigDict):
    """Raises ConfigError naming what differs: a field outside config.data, a data field the
    model depends on, or the inputs the model would see (from the configs alone)."""
    changed = [k for k in spec.diff_keys(trained, config) if not k.startswith('config.data.')]
    if changed:
        raise _error(
            f'--evaluate changes only config.data; {", ".join(changed)} differ from the run.'
        )
    for key in SAME_DATA_FIELDS:
        old, new = trained.data.get(key), config.data.get(key)
        if old != new:
            raise _error(f'config.data.{key}={new!r}, but the run was trained with {old!r}.')
    old, new = data_lib.input_spec(trained), data_lib.input_spec(config)
    for field in ('time', 'channels', 'num_classes', 'num_features', 'mask'):
        if getattr(old, field) != getattr(new, field):
            raise _error(
                f'The data give the model {field}={getattr(new, field)}, but it was '
                f'trained on {field}={getattr(old, field)}.'
            )


def load_scored(config: ml_collections.ConfigDict, summary: workdir_lib.Summary):
    """The new data, side features standardised with the run's training statistics, after
    checking their class and feature names against the run's."""
    stats = (summary.extra or {}).get('feature_norm') or {}
    with config.unlocked():
        config.data.feature_norm = 'none'  # The run's statistics, applied below.
        config.data.label_noise = 0.0  # Scored against the true labels.
    dataset = data_lib.for_task(data_lib.load(config.data), config.task)
    if dataset.task == 'classification' and list(dataset.class_names) != summary.class_names:
        raise _error(
            f'{dataset.name} has classes {list(dataset.class_names)}; the run was '
            f'trained on {summary.class_names}.'
        )
    names = stats.get('names')
    if names is not None and list(dataset.feature_names) != names:
        raise _error(
            f'{dataset.name} has side features {list(dataset.feature_names)}; the run '
            f'was trained on {names}.'
        )
    if stats.get('method') == 'zscore':
        dataset = feature_norm.standardise(
            dataset, np.asarray(stats['mean']), np.asarray(stats['std'])
        )
    return dataset


def scored_arrays(dataset, split: str) -> dict[str, np.ndarray]:
    """One split's arrays, or with 'all' every split's concatenated (recordings kept apart)."""
    if split != 'all':
        return dict(dataset.splits[split])
    parts, offset = [], 0
    for name in SPLITS:
        arrays = dict(dataset.splits[name])
        if 'group' in arrays:
            arrays['group'] = arrays['group'] + offset
            offset = int(arrays['group'].max()) + 1
        parts.append(arrays)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def evaluate_workdir(
    config: ml_collections.ConfigDict, workdir: str, name: str, split: str = 'all'
) -> dict[str, Any]:
    """Scores the run in `workdir` on `config`'s data; writes and returns the eval summary."""
    start = time.time()
    if split not in SPLIT_CHOICES:
        raise _error(f'--eval_split={split!r}: choose one of {", ".join(SPLIT_CHOICES)}.')
    trained = run_config(workdir)
    check_compatible(trained, config)
    summary = workdir_lib.read_summary(workdir)
    dataset = load_scored(config.copy_and_resolve_references(), summary)
    host = scored_arrays(dataset, split)
    num_outputs = 1 if dataset.task == 'regression' else dataset.num_classes
    model = models.build_model(trained.model, num_outputs)
    mesh = distributed.data_mesh()
    eval_fn = programs.make_eval_fn(model.apply, num_outputs, mesh, task=dataset.task)
    placed = programs.place_eval_split(host, config.train.eval_batch_size, mesh)
    params = jax.device_put(members_lib.read_params(workdir), distributed.replicated(mesh))
    result = programs.score(jax.device_get(eval_fn(params, placed)), host, dataset)
    out = {
        'status': workdir_lib.DONE,
        'evaluate': name,
        'run': os.path.abspath(workdir),
        'dataset': dataset.name,
        'eval_split': split,
        'examples': {
            name: len(dataset.splits[name]['y'])
            for name in (SPLITS if split == 'all' else (split,))
        },
        'data_overrides': {
            k: config.data[k[len('config.data.') :]] for k in spec.diff_keys(trained, config)
        },
        'best_step': summary.best_step,
        'test': result,
        'dataset_info': {k: v for k, v in dataset.info.items() if k != 'records'},
        'wall_time_s': time.time() - start,
    }
    path = os.path.join(workdir, workdir_lib.EVAL_DIR, name, workdir_lib.SUMMARY_FILE)
    if distributed.is_chief():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files.write_json(path, out)
    logging.info(
        'Scored %s on %s (%s): %s. Written to %s.',
        workdir,
        dataset.name,
        split,
        summary_lib.brief(result, dataset.scores),
        path,
    )
    return out
