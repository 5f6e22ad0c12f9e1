"""Configs from spec strings: the base config, the `runlocal` shrink and the one override setter.

A config file (configs/lstm.py, ...) is `get_config(arg)` returning `family_config(name, arg)`.
`arg` is the short spec after the colon on the command line, e.g.
`--config=configs/lstm.py:depth=4,width=64,runlocal`. Undotted keys name model fields, dotted
keys name any field (`train.num_steps=200`), `data=NAME` picks the dataset, `arch=NAME` applies
one of the family's named configurations (its `presets`, e.g.
`configs/dilated_cnn.py:arch=resnet1d`; the spec's own keys win), `task` and `seed` set the
top-level fields, and a bare word is a boolean flag. Every key must already exist, and
values are parsed to the type of the default, so a typo fails at once. Data that pose one task
set it (the synthetic `data.variant=adding` sets `task=regression` and the selection metric
`train.select_metric=mse`) unless the spec sets them.

`set_field` is the one place a value reaches a config field, from a spec string, a sweep
override or Python: strings are parsed to the field's type, Python values must already fit it.
Building a config needs no JAX: the model registry is imported only to read a family's defaults.
Nor TFDS for synthetic data: a dataset's module (ecgdepth.data.DATASETS) is imported for its
defaults, and only the real datasets' modules import TFDS.
"""

from __future__ import annotations

from typing import Any

import ml_collections

# Shrinks applied by `runlocal`: a run that finishes in seconds to a minute on a laptop CPU.
# Keys set explicitly in the spec string win over these; each dataset adds its own (its module's
# RUNLOCAL, ecgdepth/data/base.py).
RUNLOCAL = {
    'train.batch_size': 32,
    'train.num_steps': 60,
    'train.log_every': 10,
    'train.eval_every': 30,
    'train.checkpoint_every': 30,
    'train.eval_train_examples': 128,
    'optim.warmup_steps': 5,
    'model.width': 16,
}
# Top-level scalar fields an undotted spec key names (every other undotted key is a model field).
TOP_LEVEL = ('seed', 'task', 'experiment', 'target_error', 'target_metric')
# The selection metric each task defaults to (configs set train.select_metric for classification).
DEFAULT_SELECT = {'classification': 'macro_f1', 'regression': 'mse'}


def data_config(name: str) -> ml_collections.ConfigDict:
    """The data section for dataset `name` (a key of ecgdepth.data.DATASETS) with its defaults.

    Selected on the command line with the spec key `data=NAME`, e.g.
    `--config=configs/lstm.py:data=mitbih,runlocal`: `name`, the fields every dataset has
    (ecgdepth/data/base.py, `COMMON_DEFAULTS`), then the dataset's own (its module's
    `DEFAULTS`), each documented there.
    """
    from ecgdepth import data  # Cheap; a dataset's module is imported only when named.

    if name not in data.DATASETS:
        raise ValueError(
            f'Config spec data={name!r} is not a dataset; choose one of {sorted(data.DATASETS)}.'
        )
    section = ml_collections.ConfigDict()
    section.name = name
    for key, value in {**data.base.COMMON_DEFAULTS, **data.dataset(name).DEFAULTS}.items():
        section[key] = value
    return section


def get_base_config() -> ml_collections.ConfigDict:
    """Everything that is not specific to one model family."""
    config = ml_collections.ConfigDict()
    config.seed = 0  # Parameter init, data order and dropout. The data itself has data.seed.
    # 'classification' (cross-entropy; accuracy, macro-F1) or 'regression' (one output, MSE;
    # mse, mae, r2): the loss, the metrics and what train.select_metric may be.
    config.task = 'classification'
    # The hypothesis experiment a run belongs to (configs/experiments/<name>.py sets it; '' =
    # none): `python -m ecgdepth.findings` reads it to pick each sweep's rules.
    config.experiment = ''
    # What counts as solving the task, for findings' "smallest model that reaches it" rules:
    # validation error = 1 - target_metric ('' = accuracy, or r2 for regression; or macro_f1).
    config.target_error = 0.1
    config.target_metric = ''

    config.data = data_config('synthetic')

    config.optim = _optim_config()

    config.loss = loss = ml_collections.ConfigDict()
    loss.label_smoothing = 0.0
    loss.class_weights = 'none'  # 'none', 'balanced' (inverse train frequency) or '1,2.5,...'.

    config.train = _train_config()

    # Resources for launch.py --submit=slurm (ecgdepth/cluster.py). Where a run runs, not what it
    # computes: dropped from the config that trains, so a resubmission resumes the same run.
    config.cluster = _cluster_config()
    return config


def _optim_config() -> ml_collections.ConfigDict:
    optim = ml_collections.ConfigDict()
    optim.name = 'adamw'  # 'adamw' or 'sgd' (with momentum).
    optim.learning_rate = 1e-3  # Peak; held in optimiser state, so changing it does not recompile.
    optim.weight_decay = 1e-4  # Decoupled; never applied to biases or norm scales.
    optim.momentum = 0.9  # sgd only.
    optim.b1 = 0.9  # adamw only.
    optim.b2 = 0.999
    optim.schedule = 'cosine'  # 'cosine' (after linear warmup) or 'constant' (after warmup).
    optim.warmup_steps = 50
    optim.final_lr_ratio = 0.0  # Cosine decays to learning_rate * final_lr_ratio.
    optim.grad_clip_norm = 1.0  # Global-norm clipping; 0 switches it off.
    return optim


def _train_config() -> ml_collections.ConfigDict:
    train = ml_collections.ConfigDict()
    train.batch_size = 64
    train.num_steps = 600
    train.log_every = 50  # Steps between progress lines and metrics.jsonl records.
    train.eval_every = 200  # Steps between evaluations (and at the last step).
    train.eval_batch_size = 256
    train.eval_train_examples = 1024  # Train examples re-evaluated at each evaluation (the gap).
    # Validation metric that picks the best step: macro_f1, accuracy (higher is better) or loss;
    # for regression mse (the default there), mae, loss (lower is better) or r2 (higher).
    train.select_metric = 'macro_f1'
    train.diagnostics = True  # Gradient norms per layer, input sensitivity, FLOPs, RF.
    train.diagnostic_examples = 64  # Fixed validation examples the diagnostics run on.
    train.checkpoint_every = 200  # Steps between checkpoints (and at SIGTERM); 0 = none.
    train.compilation_cache_dir = ''  # Persistent XLA cache; '' = <workdir>/compilation_cache.
    # Seeds seed, seed+1, ... trained as one vmapped program (one compile, one step for all),
    # each into <workdir>/seed_<s>/; a lever for accelerators (launch.py --sweep --vmap_seeds).
    train.vmap_seeds = 1
    return train


def _cluster_config() -> ml_collections.ConfigDict:
    cluster = ml_collections.ConfigDict()
    cluster.partition = ''  # '' = the cluster's default partition.
    cluster.time_minutes = 60  # Per job or array task; near it, a checkpoint and a requeue.
    cluster.gpus_per_task = 0
    cluster.cpus_per_task = 1
    cluster.mem_gb = 4  # Per node; 0 = the cluster's default.
    cluster.array_parallelism = 0  # Sweeps: array tasks running at once; 0 = no limit.
    cluster.nodes = 1  # A run's processes are nodes x tasks_per_node (one JAX job if > 1).
    cluster.tasks_per_node = 1
    cluster.account = ''  # Account the jobs are charged to ('' = the user's default).
    cluster.qos = ''  # Quality of service ('' = default).
    cluster.constraint = ''  # Node features, e.g. 'a100' or 'a100|h100' ('' = any node).
    cluster.exclude = ''  # Nodes never to run on, e.g. 'node[01-03],node07' ('' = none).
    # Other #SBATCH options as 'key=value,key2=value2' (one string: survives command lines).
    cluster.additional_parameters = ''
    # Shell lines run before the task, ';'-separated: 'module load cuda;source venv/bin/activate'.
    cluster.setup = ''
    return cluster


def parse_arg(arg: str | None) -> dict[str, object]:
    """'depth=4,width=64,runlocal' -> {'depth': '4', 'width': '64', 'runlocal': True}."""
    spec: dict[str, object] = {}
    for item in (arg or '').split(','):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition('=')
        key = key.strip()
        if not key:
            raise ValueError(f'Config spec item {item!r} has no key.')
        if key in spec:
            raise ValueError(f'Config spec sets {key!r} twice.')
        spec[key] = value.strip() if sep else True
    return spec


def with_defaults(arg: str | None, defaults: dict) -> str:
    """The spec `arg` plus `key=value` for each default the spec does not set itself: how a
    sweep file layers its settings under the user's own."""
    given = parse_arg(arg)
    extra = [f'{key}={value}' for key, value in defaults.items() if key not in given]
    return ','.join(p for p in (arg or '', *extra) if p)


def convert(path: str, raw: object, default: object) -> object:
    """A spec string (or True, for a bare word) parsed to the type of the field's default."""
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).lower()
        if lowered in ('true', '1', 'yes'):
            return True
        if lowered in ('false', '0', 'no'):
            return False
        raise ValueError(f'{path}={raw!r}: expected a boolean.')
    if raw is True:
        raise ValueError(f'{path!r} needs a value ({path}=...).')
    try:
        if isinstance(default, int):
            return int(str(raw))
        if isinstance(default, float):
            return float(str(raw))
    except ValueError:
        raise ValueError(f'{path}={raw!r}: expected {type(default).__name__}.') from None
    return str(raw)


def coerce(path: str, value: Any, default: Any) -> Any:
    """`value` as the type of the field's default: strings are parsed as in a spec, Python values
    must already be of a compatible type (int -> float is fine)."""
    if isinstance(value, str) and not isinstance(default, str):
        return convert(path, value, default)
    kind = type(default).__name__
    fits = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: (
            not isinstance(v, bool)
            and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
        ),
        float: lambda v: not isinstance(v, bool) and isinstance(v, (int, float)),
        str: lambda v: isinstance(v, str),
    }.get(type(default))
    if fits is not None and not fits(value):
        raise ValueError(f'{path}={value!r} must be a {kind} like the default.')
    return type(default)(value) if fits is not None else value


def has_field(config: ml_collections.ConfigDict, path: str) -> bool:
    """Whether the dotted `path` names a field (not a section) of `config`."""
    node = config
    for part in path.split('.'):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            return False
        node = node[part]
    return not isinstance(node, ml_collections.ConfigDict)


def _get(config: ml_collections.ConfigDict, path: str) -> Any:
    node = config
    for part in path.split('.'):
        node = node[part]
    return node


def set_field(config: ml_collections.ConfigDict, path: str, value: Any, label: str) -> None:
    """Sets the dotted `path` of `config` to `value` (see `coerce`); errors are ValueErrors that
    start with `label` and name the key, and for an unknown one the fields that exist there."""
    *parents, leaf = path.split('.')
    node = config
    for i, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            where = '.'.join(parents[:i]) or 'the config'
            raise ValueError(
                f'{label}: key {path!r} is not a config field ({where} has no section {part!r}).'
            )
        node = node[part]
    if leaf not in node or isinstance(node[leaf], ml_collections.ConfigDict):
        fields = ', '.join(sorted(k for k in node.keys() if k != leaf))
        raise ValueError(f'{label}: key {path!r} is not a config field. Fields there: {fields}.')
    try:
        node[leaf] = coerce(path, value, node[leaf])
    except ValueError as error:
        raise ValueError(f'{label}: {error}') from None


def make_config(model: ml_collections.ConfigDict, arg: str | None) -> ml_collections.ConfigDict:
    """Base config + model section, then `runlocal`, then the `arch` preset, then the spec's
    explicit values (runlocal leaves the keys of either alone)."""
    config = get_base_config()
    config.model = model
    spec = parse_arg(arg)
    runlocal = spec.pop('runlocal', False)
    if runlocal not in (True, False):
        runlocal = convert('runlocal', runlocal, False)
    arch = spec.pop('arch', None)
    preset = _preset(config.model, arch)
    dataset = spec.pop('data', 'synthetic')
    if dataset is True:
        raise ValueError('Config spec key data needs a value (data=NAME).')
    if dataset != 'synthetic':
        config.data = data_config(str(dataset))
    explicit = {
        key if '.' in key or key in TOP_LEVEL else f'model.{key}': value
        for key, value in spec.items()
    }
    preset = {path: value for path, value in preset.items() if path not in explicit}
    from ecgdepth import data

    module = data.dataset(config.data.name)
    if runlocal:
        variant = explicit.get('data.variant', config.data.get('variant'))
        shrink = {**RUNLOCAL, **module.RUNLOCAL.get('*', {}), **module.RUNLOCAL.get(variant, {})}
        for path, value in shrink.items():
            if path not in explicit and path not in preset:
                set_field(config, path, value, 'runlocal')
    for path, value in preset.items():
        set_field(config, path, value, f'Config spec arch={arch}')
    for path, value in explicit.items():
        if value is True and has_field(config, path):  # A bare word: only booleans may be one.
            value = convert(path, value, _get(config, path))
        set_field(config, path, value, 'Config spec')
    posed = module.task(config.data)
    if 'task' not in explicit and posed is not None:
        config.task = posed
    if 'train.select_metric' not in explicit and config.task != 'classification':
        config.train.select_metric = DEFAULT_SELECT[config.task]
    return config


def _preset(model: ml_collections.ConfigDict, name: object) -> dict[str, Any]:
    """{'model.<field>': value} of the named configuration `name` (spec key `arch`) of the
    family `model.name`; {} for no name."""
    if name is None:
        return {}
    from ecgdepth import models  # Only here: a family's presets live beside its flax module.

    presets = models.get(model.name).presets
    if name is True or name not in presets:
        raise ValueError(
            f'Config spec arch={"" if name is True else name}: family {model.name!r} has the '
            f'named configurations {sorted(presets)}.'
        )
    return {f'model.{key}': value for key, value in presets[name].items()}


def family_config(family: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """The config of model family `family` (its defaults) under the spec string `arg`."""
    from ecgdepth import models  # Only here: reading a family's defaults imports flax.

    return make_config(models.default_config(family), arg)


def diff_keys(a, b, prefix: str = 'config') -> list[str]:
    """The dotted paths at which two configs (ConfigDicts or their dicts) differ, sorted."""
    a = a.to_dict() if isinstance(a, ml_collections.ConfigDict) else a
    b = b.to_dict() if isinstance(b, ml_collections.ConfigDict) else b
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in diff_keys(a.get(k), b.get(k), f'{prefix}.{k}')]
    return [] if a == b else [prefix]


def _leaves(tree: dict, prefix: str = '') -> list[tuple[str, Any]]:
    out = []
    for key, value in tree.items():
        path = f'{prefix}{key}'
        out += _leaves(value, f'{path}.') if isinstance(value, dict) else [(path, value)]
    return out


def from_workdir(workdir: str) -> ml_collections.ConfigDict:
    """The config a run recorded in `workdir` (its config.json), rebuilt on its family's and
    dataset's defaults so that every field keeps its type (and command-line overrides work)."""
    import os

    from ecgdepth import workdir as workdir_lib

    path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
    recorded = workdir_lib.read_config(workdir)
    if recorded is None:
        raise ValueError(f'{path} does not exist: no run was started in {workdir}.')
    try:
        family, dataset = recorded['model']['name'], recorded['data']['name']
    except (KeyError, TypeError):
        raise ValueError(f'{path} names no model.name and data.name.') from None
    config = family_config(family, f'data={dataset}')
    for key, value in _leaves(recorded):
        set_field(config, key, value, path)
    return config


def scaled_config(
    family: str, arg: str | None, cpu: dict, gpu: dict
) -> tuple[ml_collections.ConfigDict, dict[str, object]]:
    """A config with two scales: `cpu`'s spec defaults, or `gpu`'s with the spec key `gpu`;
    the spec's other keys override either. Returns the config and the spec's own keys."""
    given = parse_arg(arg)
    scale = gpu if convert('gpu', given.pop('gpu', False), False) else cpu
    rest = ','.join(k if v is True else f'{k}={v}' for k, v in given.items())
    return family_config(family, with_defaults(rest, scale)), given
