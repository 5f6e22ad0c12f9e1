"""The spec conventions sweep and experiment files share (configs/sweeps/, configs/experiments/).

Each experiment file defines get_config(arg), get_sweep(arg) and family_arg(arg) (the spec
every trial's family config is built from, so that a family switch keeps the experiment's
settings); `python -m ecgdepth.findings` turns its sweep into verdicts. Spec keys besides any
config key:
- `runlocal`: sized for a 2-core CPU (at most 15 minutes, 3 seeds);
- `seeds=N`: the number of seeds;
- `smoke`: a seconds-long run of a few trials, one seed (what CI runs end to end).
"""

from __future__ import annotations

from ecgdepth import spec as spec_lib
from ecgdepth import sweep

SWEEP_KEYS = ('seeds', 'smoke')
# runlocal on the synthetic rhythm task: a sweep that learns (the generic 60-step shrink stays
# at chance) in minutes on a 2-core CPU. 5 s windows at 50 Hz, because the LSTM's time loop is
# the cost; more training windows, bigger batches and a higher peak learning rate.
RUNLOCAL_SYNTHETIC = {
    'data.sample_rate': 50.0,
    'data.window': 250,
    'data.num_train': 2000,
    'train.batch_size': 64,
    'train.num_steps': 300,
    'train.eval_every': 100,
    'train.checkpoint_every': 100,
    'optim.learning_rate': 1e-2,
}
# runlocal's training length (on top of ecgdepth.spec's RUNLOCAL shrink).
RUNLOCAL_TRAIN = {'train.num_steps': 300, 'train.eval_every': 100, 'train.checkpoint_every': 100}
# runlocal on synthetic rhythm data: the depth sweep's data, twice its steps at a lower peak
# learning rate (docs/findings.md says what the LSTM reaches either way).
RUNLOCAL_RHYTHM = {
    **RUNLOCAL_SYNTHETIC,
    'train.num_steps': 600,
    'train.eval_every': 150,
    'train.checkpoint_every': 150,
    'optim.learning_rate': 3e-3,
}
# Smoke: the runlocal data, a handful of steps.
SMOKE = {
    'train.num_steps': 12,
    'train.eval_every': 6,
    'train.log_every': 6,
    'train.checkpoint_every': 0,
    'optim.warmup_steps': 1,
    'data.num_train': 64,
    'data.num_validation': 32,
    'data.num_test': 32,
    'train.batch_size': 16,
    'train.eval_train_examples': 32,
    'train.diagnostic_examples': 8,
}


def options(arg: str | None) -> tuple[str, bool, bool]:
    """(the spec without sweep keys, runlocal, smoke). smoke implies runlocal."""
    spec, opts = sweep.split_arg(arg, SWEEP_KEYS)
    smoke = bool(opts.get('smoke', False))
    runlocal = smoke or sweep.spec_value(spec, 'runlocal', False)
    if smoke and not sweep.spec_value(spec, 'runlocal', False):
        spec = ','.join(p for p in (spec, 'runlocal') if p)
    return spec, runlocal, smoke


def synthetic_only(arg: str | None, settings: dict) -> dict:
    """`settings` of the synthetic data, or none where the spec picks another dataset."""
    return {} if sweep.spec_value(arg, 'data', 'synthetic') != 'synthetic' else settings


def seeds(arg: str | None, default: int = 3) -> list[int]:
    _, _, smoke = options(arg)
    return list(range(sweep.spec_value(arg, 'seeds', 1 if smoke else default)))


def family_arg(
    arg: str | None,
    experiment: str,
    defaults: dict,
    runlocal: dict | None = None,
    smoke: dict | None = None,
) -> str:
    """The experiment's spec: its name and defaults (then the runlocal and smoke ones), each
    kept only where the user's own spec does not set that key."""
    spec, is_runlocal, is_smoke = options(arg)
    chosen = {'experiment': experiment, **defaults}
    if is_runlocal:
        chosen.update(runlocal or {})
    if is_smoke:
        chosen.update({**SMOKE, **(smoke or {})})
    return spec_lib.with_defaults(spec, chosen)


def family_depths(depths: dict[str, list[int]]) -> list[dict]:
    """{'lstm': [1, 2], ...} -> the (model.name, model.depth) trials, each family its own depths."""
    return sweep.chain(
        *(sweep.product({'model.name': [name], 'model.depth': d}) for name, d in depths.items())
    )
