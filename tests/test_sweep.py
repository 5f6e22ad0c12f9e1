"""Sweeps: building trial lists, overrides, ids, iso-parameter widths, and running trials with
status files and claims (in-process and through launch.py)."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import ml_collections
import pytest
from conftest import REPO, shared_path

from ecgdepth import experiment, sweep, trial
from ecgdepth import spec as spec_lib
from ecgdepth import workdir as workdir_lib
from ecgdepth.sweep import ConfigError, SweepError

FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']
# A trial that trains in about two seconds on a CPU.
TINY = (
    'runlocal,depth=1,width=4,data.num_train=64,data.num_validation=32,data.num_test=32,'
    'data.window=250,train.num_steps=4,train.batch_size=16,train.log_every=2,'
    'train.eval_every=4,optim.warmup_steps=1,train.eval_train_examples=16'
)


def tiny_base():
    return spec_lib.family_config('dilated_cnn', TINY)


def write_sweep(directory, trials_source: str, base: str = TINY, name: str = 'tiny.py') -> str:
    """A sweep file whose base (and family switches) use the `base` spec."""
    path = os.path.join(directory, name)
    with open(path, 'w') as f:
        f.write(
            'from ecgdepth import spec\n'
            'from ecgdepth import sweep\n\n'
            f'BASE = {base!r}\n\n\n'
            'def family_arg(arg=None):\n    return BASE\n\n\n'
            "def get_config(arg=None):\n    return spec.family_config('dilated_cnn', BASE)\n\n\n"
            f'def get_sweep(arg=None):\n    return {trials_source}\n'
        )
    return path


def launch(*args, data_dir, env=None, wait=True):
    """Runs launch.py; output goes to files (a pipe nobody reads could block a chatty child)."""
    full_env = {k: v for k, v in os.environ.items() if k != trial.SLURM_TASK_ENV}
    full_env.update(JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir, **(env or {}))
    out, err = tempfile.TemporaryFile('w+'), tempfile.TemporaryFile('w+')
    proc = subprocess.Popen(
        [sys.executable, 'launch.py', *args], cwd=REPO, env=full_env, stdout=out, stderr=err
    )
    proc.output_files = (out, err)
    return finish(proc) if wait else proc


def finish(proc):
    proc.wait(timeout=600)
    texts = []
    for f in proc.output_files:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, *texts)


def status_of(workdir, tid):
    return trial.read_status(os.path.join(workdir, tid))


# -------------------------------------------------------------------------- building sweeps


def test_product_zip_chain():
    trials = sweep.product({'model.depth': [1, 2], 'seed': [0, 1, 2]})
    assert len(trials) == 6
    assert trials[0] == {'model.depth': 1, 'seed': 0}
    assert trials[-1] == {'model.depth': 2, 'seed': 2}
    assert sweep.product(seed=[0, 1]) == [{'seed': 0}, {'seed': 1}]
    zipped = sweep.zip_({'model.depth': [1, 2], 'model.width': [64, 32]})
    assert zipped == [{'model.depth': 1, 'model.width': 64}, {'model.depth': 2, 'model.width': 32}]
    crossed = sweep.product(zipped, {'seed': [0, 1]})
    assert len(crossed) == 4 and crossed[1] == {'model.depth': 1, 'model.width': 64, 'seed': 1}
    both = sweep.chain(sweep.product({'model.name': ['lstm']}), [{'model.name': 'mi_mlp'}])
    assert both == [{'model.name': 'lstm'}, {'model.name': 'mi_mlp'}]
    marked = sweep.iso_params(zipped, 1000)
    assert all(t[sweep.ISO_KEY] == 1000 for t in marked) and sweep.ISO_KEY not in zipped[0]


@pytest.mark.parametrize(
    'build, message',
    [
        (lambda: sweep.product({'model.depth': 4}), "axis 'model.depth' must be a list"),
        (lambda: sweep.product({'model.depth': []}), "axis 'model.depth' has no values"),
        (lambda: sweep.zip_({'seed': [0, 1], 'model.depth': [1]}), 'lengths differ'),
        (lambda: sweep.product({'seed': [0]}, [{'seed': 1}]), "key 'seed' is set twice"),
        (lambda: sweep.iso_params([{}], 0), 'budget must be an integer >= 1'),
    ],
)
def test_sweep_building_errors_name_the_culprit(build, message):
    with pytest.raises(SweepError, match=message):
        build()


# ------------------------------------------------------------------------------ overrides


def test_apply_overrides_converts_types_and_copies():
    base = tiny_base()
    new = sweep.apply_overrides(
        base, {'model.depth': '3', 'optim.learning_rate': 1, 'seed': 2, 'model.residual': 'false'}
    )
    assert new.model.depth == 3 and new.seed == 2 and new.model.residual is False
    assert isinstance(new.optim.learning_rate, float) and new.optim.learning_rate == 1.0
    assert base.model.depth == 1 and base.seed == 0 and base.model.residual is True


def test_family_switch_takes_the_family_defaults_then_overrides():
    base = tiny_base()
    new = sweep.apply_overrides(
        base, {'model.name': 'lstm', 'model.depth': 3, 'model.cell': 'gru'}, family_arg=TINY
    )
    expected = spec_lib.family_config('lstm', TINY).model
    expected.depth, expected.cell = 3, 'gru'
    assert new.model.to_dict() == expected.to_dict()
    assert 'kernel_size' not in new.model  # Nothing of the base family is left.
    assert new.data.to_dict() == base.data.to_dict() and base.model.name == 'dilated_cnn'
    mi = sweep.apply_overrides(base, {'model.name': 'mi_mlp'}, family_arg='runlocal')
    assert mi.model.to_dict() == spec_lib.family_config('mi_mlp', 'runlocal').model.to_dict()


def test_data_switch_takes_the_dataset_defaults_with_runlocal():
    from ecgdepth.data import cinc2017

    base = spec_lib.family_config('dilated_cnn', 'runlocal')
    new = sweep.apply_overrides(
        base, {'data.name': 'cinc2017', 'data.window_seconds': 5.0}, family_arg='runlocal'
    )
    expected = spec_lib.data_config('cinc2017')
    for key, value in cinc2017.RUNLOCAL['*'].items():
        expected[key.split('.')[1]] = value
    expected.window_seconds = 5.0
    assert new.data.to_dict() == expected.to_dict()


def test_command_line_overrides_survive_a_family_switch():
    base = tiny_base()
    cli = {'model.dropout': 0.25, 'model.kernel_size': 5, 'train.num_steps': 7}
    new = sweep.apply_overrides(base, {'model.name': 'lstm'}, family_arg=TINY, base_overrides=cli)
    assert new.model.dropout == 0.25  # Re-applied to the new model section...
    assert 'kernel_size' not in new.model  # ...where the field exists.
    assert new.train.num_steps == 7
    # A key the trial sets too would be silently lost: an error naming both.
    with pytest.raises(ConfigError, match=r'--config\.train\.num_steps=7 is also set by the sweep'):
        sweep.apply_overrides(
            base, {'model.name': 'lstm', 'train.num_steps': 9}, family_arg=TINY, base_overrides=cli
        )


@pytest.mark.parametrize(
    'overrides, message',
    [
        ({'model.dpeth': 3}, "'model.dpeth' is not a config field"),
        ({'modle.depth': 3}, "'modle.depth' is not a config field"),
        ({'model.depth': 'four'}, 'model.depth'),
        ({'model.depth': 2.5}, 'model.depth=2.5 must be a int'),
        ({'model.depth': True}, 'model.depth=True must be a int'),
        ({'model.name': 'transformer'}, "model.name='transformer' is not a model family"),
        ({'model.name': 'lstm', 'model.kernel_size': 5}, "'model.kernel_size' is not a config"),
        ({'data.name': 'imagenet'}, 'imagenet'),
        ({sweep.ISO_KEY: 5000, 'model.width': 8}, 'both iso_params and model.width'),
    ],
)
def test_bad_overrides_name_the_key_and_the_trial(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        sweep.apply_overrides(tiny_base(), overrides, family_arg=TINY, label='trial 7 (x-1)')
    assert 'trial 7 (x-1)' in str(error.value)


def test_expand_validates_every_trial_and_names_the_bad_one():
    overrides = [{'model.depth': 1}, {'model.depth': 2}, {'model.depth': 0}]
    with pytest.raises(ConfigError, match=r'trial 2 \(d0-[0-9a-f]{8}\).*model.depth must be'):
        sweep.expand(overrides, tiny_base(), family_arg=TINY)
    with pytest.raises(SweepError, match='trials 0 and 1 have the same overrides'):
        sweep.expand([{'seed': 1}, {'seed': 1}], tiny_base())
    with pytest.raises(SweepError, match='non-empty list'):
        sweep.expand([], tiny_base())


# ------------------------------------------------------------------------------ trial ids

ID_CASES = [
    {'model.name': 'lstm', 'model.depth': 4, 'model.width': 64, 'seed': 0},
    {'model.name': 'lstm', 'model.depth': 4, 'model.width': 64, 'seed': 1},
    {'model.name': 'mi_mlp', 'model.depth': 4, sweep.ISO_KEY: 100000, 'seed': 0},
    {'model.dropout': 0.1, 'optim.weight_decay': 1e-4, 'loss.label_smoothing': 0.1},
    {'data.train_fraction': 0.5, 'model.kernel_size': 5},
    {},
]


def test_trial_ids_are_readable_stable_and_unique():
    ids = [sweep.trial_id(o) for o in ID_CASES]
    assert ids[0].startswith('lstm-d4-w64-s0-') and len(ids[0].rsplit('-', 1)[1]) == 8
    assert ids[2].startswith('mi_mlp-d4-iso100000-s0-')
    assert ids[3].startswith('do0.1-wd0.0001-ls0.1-')
    assert ids[5].startswith('trial-')
    assert len(set(ids)) == len(ids)
    reordered = dict(reversed(list(ID_CASES[0].items())))
    assert sweep.trial_id(reordered) == ids[0]
    assert sweep.trial_id({**ID_CASES[0], 'model.dilation': 'none'}) != ids[0]
    # Another process (another hash seed) computes the same ids.
    code = (
        'import json, sys; from ecgdepth import sweep; '
        'print(json.dumps([sweep.trial_id(o) for o in json.load(sys.stdin)]))'
    )
    result = subprocess.run(
        [sys.executable, '-c', code],
        input=json.dumps(ID_CASES),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONHASHSEED='123'),
        check=True,
    )
    assert json.loads(result.stdout) == ids


# ---------------------------------------------------------------- input spec and iso params


def _real_count(config, dataset) -> int:
    """Parameters of the model initialised on real arrays (the ground truth for the solver)."""
    import jax

    from ecgdepth import models
    from ecgdepth.train.state import MODEL_INPUTS

    model = models.build_model(config.model, dataset.num_classes)
    keys = ('x', *MODEL_INPUTS)  # not the labels, nor the recording of a window ('group')
    arrays = {k: v[:2] for k, v in dataset.splits['train'].items() if k in keys}
    x = arrays.pop('x')
    params = model.init({'params': jax.random.PRNGKey(0)}, x, train=False, **arrays)['params']
    return models.count_params(params)


def _check_spec_against_data(config):
    from ecgdepth import data

    dataset = data.load(config.data)
    spec = sweep.input_spec(config)
    assert (spec.time, spec.channels) == dataset.input_shape
    assert spec.num_classes == dataset.num_classes
    assert spec.num_features == dataset.num_features
    assert spec.mask == ('mask' in dataset.splits['train'])
    for family in FAMILIES:
        overrides = {'model.name': family, 'model.depth': 2, 'model.width': 8}
        trial_config = sweep.apply_overrides(config, overrides)
        assert sweep.count_model_params(trial_config) == _real_count(trial_config, dataset)
    return dataset


@pytest.mark.parametrize('variant', ['rhythm', 'motif'])
def test_input_spec_matches_synthetic_data(variant, data_dir, monkeypatch):
    monkeypatch.setenv('ECGDEPTH_DATA_DIR', data_dir)
    window = 250 if variant == 'rhythm' else 750
    config = spec_lib.family_config(
        'dilated_cnn', TINY.replace('data.window=250', f'data.window={window}')
    )
    config.data.variant = variant
    assert sweep.input_spec(config) == (window, 1, 4 if variant == 'rhythm' else 2, 0, False)
    _check_spec_against_data(config)


def test_input_spec_matches_cinc2017(tmp_path, data_dir):
    folder = shared_path('cinc2017', 'training2017')
    subset = tmp_path / 'records'
    subset.mkdir()
    with open(os.path.join(folder, 'STAGED_RECORDS')) as f:
        names = sorted(line.strip() for line in f if line.strip())[:60]
    for name in names:
        for ext in ('.hea', '.mat'):
            os.symlink(os.path.join(folder, name + ext), subset / (name + ext))
    os.symlink(os.path.join(folder, 'REFERENCE.csv'), subset / 'REFERENCE.csv')
    config = spec_lib.family_config('dilated_cnn', 'data=cinc2017,runlocal')
    config.data.update(manual_dir=str(subset), data_dir=data_dir, window_seconds=9.5)
    assert sweep.input_spec(config) == (950, 1, 4, 0, True)
    _check_spec_against_data(config)


@pytest.mark.parametrize('variant', ['beats', 'rhythm'])
def test_input_spec_matches_mitbih(variant, tmp_path_factory):
    folder = shared_path('mitdb')
    subset = tmp_path_factory.mktemp('mitdb')
    for record in ('100', '101', '103'):
        for ext in ('.hea', '.dat', '.atr'):
            os.symlink(os.path.join(folder, record + ext), subset / (record + ext))
    config = spec_lib.family_config('dilated_cnn', 'data=mitbih,runlocal')
    config.data.update(
        manual_dir=str(subset),
        data_dir=str(tmp_path_factory.mktemp('mitbih_tfds')),
        variant=variant,
        split='records',
        split_fractions='0.34,0.33,0.33',
        sample_rate=250.0,
        beat_before=0.25,
        beat_after=0.43,
        window_seconds=2.0,
    )
    # 62.5 and 107.5 samples: the builder rounds each half separately (half to even).
    from ecgdepth.data import mitbih

    features = len(mitbih.FEATURE_NAMES)
    expected = (62 + 108, 1, 5, features, False) if variant == 'beats' else (500, 1, 15, 0, False)
    assert sweep.input_spec(config) == expected
    _check_spec_against_data(config)


@pytest.mark.parametrize('family', FAMILIES)
def test_iso_params_lands_within_five_percent_at_every_depth(family):
    budget = 50_000
    for depth in (1, 2, 4, 8, 16):
        overrides = {'model.name': family, 'model.depth': depth, sweep.ISO_KEY: budget}
        config = sweep.apply_overrides(tiny_base(), overrides, family_arg=TINY)
        params = sweep.count_model_params(config)
        assert abs(params - budget) <= 0.05 * budget, (family, depth, config.model.width, params)
        # The nearest width: one step either way is no closer to the budget.
        for width in (config.model.width - 1, config.model.width + 1):
            other = sweep.apply_overrides(config, {'model.width': width})
            assert abs(sweep.count_model_params(other) - budget) >= abs(params - budget)


def test_infeasible_iso_budgets_name_the_trial():
    base = tiny_base()
    small = {'model.name': 'lstm', 'model.depth': 16, sweep.ISO_KEY: 50}
    with pytest.raises(ConfigError, match=r'trial 3 \(t\): iso_params=50 is infeasible.*width 1'):
        sweep.apply_overrides(base, small, family_arg=TINY, label='trial 3 (t)')
    huge = {'model.name': 'lstm', 'model.depth': 1, sweep.ISO_KEY: 10**14}
    with pytest.raises(ConfigError, match='infeasible within 5%'):
        sweep.apply_overrides(base, huge, family_arg=TINY, label='trial 4 (u)')


# --------------------------------------------------------------------------- shipped sweeps

SHIPPED = {
    'configs/sweeps/depth.py:runlocal': 18,
    'configs/sweeps/width.py:runlocal': 18,
    'configs/sweeps/regularisation.py:runlocal': 32,
}


def test_shipped_sweeps_parse_validate_and_dry_run(tmp_path, data_dir):
    procs = {
        source: launch(
            f'--config={source}', f'--workdir={tmp_path}/w', '--sweep', '--dry_run',
            data_dir=data_dir, wait=False,
        )
        for source in SHIPPED
    }  # fmt: skip
    no_flag = launch(
        '--config=configs/sweeps/width.py:runlocal', f'--workdir={tmp_path}/a',
        data_dir=data_dir, wait=False,
    )  # fmt: skip
    for source, count in SHIPPED.items():
        loaded = sweep.load_sweep(source)  # Expands and validates every trial.
        assert len(loaded.trials) == count
        assert len({t.id for t in loaded.trials}) == count
        assert {t.config.model.name for t in loaded.trials} >= {'dilated_cnn', 'lstm'}
        assert len({t.config.seed for t in loaded.trials}) == 2
        steps = (experiment.RUNLOCAL_SYNTHETIC if 'depth' in source else spec_lib.RUNLOCAL)[
            'train.num_steps'
        ]  # The depth sweep's runlocal trains longer, so that it learns.
        assert all(t.config.train.num_steps == steps for t in loaded.trials)
        result = finish(procs[source])
        assert result.returncode == 0, result.stderr[-3000:]
        lines = [line.split() for line in result.stdout.splitlines()[1:]]
        assert [(int(ln[0]), ln[1]) for ln in lines] == [(t.index, t.id) for t in loaded.trials]
    assert not os.path.exists(tmp_path / 'w')  # A dry run writes nothing.
    refused = finish(no_flag)
    assert refused.returncode != 0 and 'is a sweep file: add --sweep' in refused.stderr
    assert not os.path.exists(tmp_path / 'a')
    depth = sweep.load_sweep('configs/sweeps/depth.py:runlocal').trials
    assert sorted({t.config.model.depth for t in depth}) == [1, 2, 4]
    assert {t.config.model.name for t in depth} == set(FAMILIES)
    # Every family gets the depth sweep's runlocal settings; keys in the spec win.
    assert {(t.config.data.window, t.config.optim.learning_rate) for t in depth} == {(250, 0.01)}
    depth = sweep.load_sweep('configs/sweeps/depth.py:runlocal,seeds=1,data.window=200').trials
    assert {(t.config.data.window, t.config.train.num_steps) for t in depth} == {(200, 300)}


def test_dry_run_lists_the_command_line_overrides(tmp_path):
    cli = {'model.dropout': 0.1}
    trials = sweep.load_sweep('configs/sweeps/depth.py:runlocal', base_overrides=cli).trials
    assert {t.config.model.dropout for t in trials} == {0.1}  # Every family keeps it.
    out = io.StringIO()
    code = trial.run_sweep(
        trials, str(tmp_path / 'w'), source='depth', dry_run=True, base_overrides=cli, out=out
    )
    assert code == 0 and not os.path.exists(tmp_path / 'w')
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        '18 trials in depth:',
        'every trial with the command-line overrides --config.model.dropout=0.1',
    ]


def test_depth_sweep_iso_option():
    trials = sweep.load_sweep('configs/sweeps/depth.py:iso=20000,runlocal').trials
    assert len(trials) == 18
    for t in trials:
        assert t.overrides[sweep.ISO_KEY] == 20000
        assert abs(t.params - 20000) <= 1000 and t.record()['width'] == t.config.model.width
    with pytest.raises(ValueError, match='iso=20000.5 must be a whole number'):
        sweep.load_sweep('configs/sweeps/depth.py:iso=20000.5,runlocal')


# ------------------------------------------------------------------ running (in-process)


def fake_summary(status='done', value=0.5):
    return {
        'status': status,
        'select_metric': 'macro_f1',
        'val': {'macro_f1': value},
        'test': {'macro_f1': value / 2},
        'best_step': 4,
        'params': 123,
        'wall_time_s': 0.1,
    }


@pytest.fixture
def fake_train(monkeypatch):
    """train_and_evaluate replaced: records the calls; a trial with seed in `fail` raises."""
    calls, fail, statuses = [], set(), {}

    def train(config, workdir):
        calls.append(os.path.basename(workdir))
        if config.seed in fail:
            raise RuntimeError(f'boom in seed {config.seed}')
        return fake_summary(statuses.get(config.seed, 'done'))

    monkeypatch.setattr(trial, 'train_and_evaluate', train)
    return calls, fail, statuses


def tiny_trials(n=3):
    return sweep.expand([{'seed': s} for s in range(n)], tiny_base(), family_arg=TINY)


def progress_lines(caplog) -> list[str]:
    """The sweep's progress lines logged, without their times: 'Trial k of N (id): s; counts'."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith('Trial ')]
    return [line.split('; elapsed')[0] for line in lines if ' of ' in line.split(':')[0]]


def test_failures_are_recorded_and_retried_only_when_asked(tmp_path, fake_train, capsys, caplog):
    calls, fail, _ = fake_train
    trials, workdir = tiny_trials(), str(tmp_path)
    fail.add(1)
    caplog.set_level('INFO')
    assert trial.run_sweep(trials, workdir) == 1
    assert len(calls) == 3  # The failure did not stop the sweep.
    ids = [t.id for t in trials]
    assert progress_lines(caplog) == [  # One line as each trial starts and ends.
        f'Trial 1 of 3 ({ids[0]}): running; 0 done, 0 failed, 1 running, 2 pending of 3',
        f'Trial 1 of 3 ({ids[0]}): done; 1 done, 0 failed, 0 running, 2 pending of 3',
        f'Trial 2 of 3 ({ids[1]}): running; 1 done, 0 failed, 1 running, 1 pending of 3',
        f'Trial 2 of 3 ({ids[1]}): failed; 1 done, 1 failed, 0 running, 1 pending of 3',
        f'Trial 3 of 3 ({ids[2]}): running; 1 done, 1 failed, 1 running, 0 pending of 3',
        f'Trial 3 of 3 ({ids[2]}): done; 2 done, 1 failed, 0 running, 0 pending of 3',
    ]
    failed = status_of(workdir, trials[1].id)
    assert failed['status'] == 'failed' and 'RuntimeError: boom in seed 1' in failed['error']
    assert 'Traceback' in failed['traceback'] and failed['attempts'] == 1
    for t in (trials[0], trials[2]):
        status = status_of(workdir, t.id)
        assert status['status'] == 'done' and status['result']['val'] == 0.5
        assert status['host'] == socket.gethostname() and status['pid'] == os.getpid()
        assert not os.path.exists(os.path.join(workdir, t.id, workdir_lib.CLAIM_FILE))
    out = capsys.readouterr().out
    assert 'val macro_f1' in out and '1 trial(s) failed: ' + trials[1].id in out
    sweep_json = json.load(open(tmp_path / 'sweep.json'))
    assert [(e['index'], e['id'], e['overrides']) for e in sweep_json['trials']] == [
        (t.index, t.id, t.overrides) for t in trials
    ]

    calls.clear()
    assert trial.run_sweep(trials, workdir) == 1  # Still failed, not retried.
    assert calls == []
    fail.clear()
    assert trial.run_sweep(trials, workdir, retry_failed=True) == 0
    assert calls == [trials[1].id]
    retried = status_of(workdir, trials[1].id)
    assert retried['status'] == 'done' and retried['attempts'] == 2 and retried['error'] is None
    assert [h['status'] for h in retried['history']] == ['failed', 'done']


def test_diverged_is_a_result_and_preempted_resumes(tmp_path, fake_train):
    calls, _, statuses = fake_train
    trials, workdir = tiny_trials(), str(tmp_path)
    statuses.update({0: 'diverged', 1: 'preempted'})
    assert trial.run_sweep(trials, workdir) == 0
    assert calls == [trials[0].id, trials[1].id]  # Preempted: no further trial started.
    assert status_of(workdir, trials[0].id)['status'] == 'diverged'
    preempted = status_of(workdir, trials[1].id)
    assert preempted['status'] == 'pending' and 'preempted' in preempted['error']
    assert status_of(workdir, trials[2].id)['status'] == 'pending'
    calls.clear()
    statuses.clear()
    assert trial.run_sweep(trials, workdir) == 0
    assert calls == [trials[1].id, trials[2].id]  # The diverged trial is not re-run.


def test_a_changed_base_config_is_refused_in_the_same_workdir(tmp_path, fake_train):
    trial.run_sweep(tiny_trials(1), str(tmp_path))
    changed = sweep.expand(
        [{'seed': 0}], spec_lib.family_config('dilated_cnn', TINY.replace('width=4', 'width=5'))
    )
    with pytest.raises(SweepError, match='different config'):
        trial.run_sweep(changed, str(tmp_path))


def test_task_index_selection_and_slurm_env(tmp_path, fake_train):
    calls, _, _ = fake_train
    trials = tiny_trials()
    assert trial.run_sweep(trials, str(tmp_path), task_index=2) == 0
    assert calls == [trials[2].id]
    assert status_of(str(tmp_path), trials[0].id)['status'] == 'pending'
    with pytest.raises(SweepError, match=r'Task index 3 is out of range.*3 trials \(0..2\)'):
        trial.run_sweep(trials, str(tmp_path), task_index=3)
    assert trial.task_index_from_env({trial.SLURM_TASK_ENV: '4'}) == 4
    assert trial.task_index_from_env({}) is None
    with pytest.raises(SweepError, match='SLURM_ARRAY_TASK_ID'):
        trial.task_index_from_env({trial.SLURM_TASK_ENV: 'x'})


# -------------------------------------------------------------------------------- claims


def write_lock(directory, **info):
    os.makedirs(directory, exist_ok=True)
    lock = {'host': socket.gethostname(), 'pid': os.getpid(), 'token': 'other', **info}
    lock.setdefault('heartbeat', time.time())
    with open(os.path.join(directory, workdir_lib.CLAIM_FILE), 'w') as f:
        json.dump(lock, f)


def dead_pid() -> int:
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def test_a_live_claim_blocks_and_stale_claims_are_broken(tmp_path):
    sleeper = subprocess.Popen(['sleep', '30'])
    try:
        live = tmp_path / 'live'
        write_lock(live, pid=sleeper.pid)
        assert trial.claim(str(live), stale_after=60) is None
        # Another host: its pid cannot be checked, only its heartbeat.
        write_lock(live, host='elsewhere', pid=1)
        assert trial.claim(str(live), stale_after=60) is None
    finally:
        sleeper.kill()
        sleeper.wait()
    for name, info in {
        'dead_pid': {'pid': dead_pid()},
        'old_heartbeat': {'host': 'elsewhere', 'pid': 1, 'heartbeat': time.time() - 1000},
        'own_pid_no_claim': {},  # Left by this process without a live claim.
    }.items():
        write_lock(tmp_path / name, **info)
        held = trial.claim(str(tmp_path / name), stale_after=60)
        assert held is not None, name
        assert json.load(open(tmp_path / name / workdir_lib.CLAIM_FILE))['token'] == held.token
        held.release()
        assert not os.path.exists(tmp_path / name / workdir_lib.CLAIM_FILE)
    # An empty lock (its writer died between create and write) is stale only once old.
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / workdir_lib.CLAIM_FILE).write_text('')
    assert trial.claim(str(tmp_path / 'empty'), stale_after=60) is None
    os.utime(tmp_path / 'empty' / workdir_lib.CLAIM_FILE, (time.time() - 100,) * 2)
    trial.claim(str(tmp_path / 'empty'), stale_after=60).release()


def test_heartbeat_keeps_a_claim_live_and_a_taken_claim_is_noticed(tmp_path):
    held = trial.claim(str(tmp_path), stale_after=0.4)
    try:
        first = json.load(open(tmp_path / workdir_lib.CLAIM_FILE))['heartbeat']
        time.sleep(0.6)  # Longer than stale_after: only the heartbeat keeps it live.
        assert json.load(open(tmp_path / workdir_lib.CLAIM_FILE))['heartbeat'] > first
        assert trial.claim(str(tmp_path), stale_after=0.4) is None
        write_lock(tmp_path, host='elsewhere', pid=1)  # Someone else took it over.
        time.sleep(0.3)
        assert held.lost and not held.owned()
    finally:
        held.release()
    # Not ours to drop:
    assert json.load(open(tmp_path / workdir_lib.CLAIM_FILE))['token'] == 'other'


def test_concurrent_claimers_get_one_claim(tmp_path):
    results, barrier = [], threading.Barrier(8)

    def contend():
        barrier.wait()
        results.append(trial.claim(str(tmp_path), stale_after=60, start=False))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    winners[0].release()


# -------------------------------------------------------------------- through launch.py


def test_sweep_end_to_end_with_two_workers_then_rerun_skips(tmp_path, data_dir):
    source = write_sweep(
        tmp_path, "sweep.product({'model.name': ['dilated_cnn', 'lstm', 'mi_mlp']})"
    )
    workdir = tmp_path / 'w'
    result = launch(
        f'--config={source}', f'--workdir={workdir}', '--sweep', '--workers=2', data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    entries = json.load(open(workdir / 'sweep.json'))['trials']
    assert [e['overrides']['model.name'] for e in entries] == FAMILIES
    mtimes = {}
    for entry in entries:
        status = status_of(workdir, entry['id'])
        assert status['status'] == 'done' and status['attempts'] == 1, status
        assert len(status['history']) == 1
        summary = workdir / entry['id'] / workdir_lib.SUMMARY_FILE
        assert json.load(open(summary))['status'] == 'done'
        assert json.load(open(workdir / entry['id'] / 'config.json'))['model']['width'] == 4
        with open(workdir / entry['id'] / workdir_lib.LOG_FILE) as f:  # A worker's log.
            assert 'eval step' in f.read()
        mtimes[entry['id']] = os.stat(summary).st_mtime_ns
        assert entry['id'] in result.stdout
        # The parent saw the workers' trials end in their directories: one line each.
        k = entry['index'] + 1
        assert result.stderr.count(f'Trial {k} of 3 ({entry["id"]}): done; ') == 1
    last = [line for line in result.stderr.splitlines() if ' of 3 (' in line][-1]
    assert '3 done, 0 failed, 0 running, 0 pending of 3; elapsed ' in last
    rerun = launch(
        f'--config={source}', f'--workdir={workdir}', '--sweep', '--report', data_dir=data_dir
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for tid, mtime in mtimes.items():
        assert os.stat(workdir / tid / workdir_lib.SUMMARY_FILE).st_mtime_ns == mtime
        assert status_of(workdir, tid)['attempts'] == 1
    listing, report = rerun.stdout.split('| family | status | params |')
    assert listing.count(' done ') == 3
    # --report: then the table of the three trials and the report's path.
    assert all(f'| {family} | 1 done |' in report for family in FAMILIES)
    assert report.rstrip().endswith(f'Report: {workdir}/report/report.md')
    assert os.path.exists(workdir / 'report' / 'table.csv')


def test_task_index_and_slurm_array_each_run_one_trial(tmp_path, data_dir):
    source = write_sweep(tmp_path, "sweep.product({'seed': [0, 1, 2]})")
    by_flag = launch(
        f'--config={source}', f'--workdir={tmp_path}/flag', '--sweep', '--task_index=1',
        data_dir=data_dir, wait=False,
    )  # fmt: skip
    by_env = launch(
        f'--config={source}', f'--workdir={tmp_path}/env', '--sweep',
        data_dir=data_dir, env={trial.SLURM_TASK_ENV: '2'}, wait=False,
    )  # fmt: skip
    for proc, workdir, index in ((by_flag, 'flag', 1), (by_env, 'env', 2)):
        result = finish(proc)
        assert result.returncode == 0, result.stderr[-3000:]
        entries = json.load(open(tmp_path / workdir / 'sweep.json'))['trials']
        states = [status_of(tmp_path / workdir, e['id'])['status'] for e in entries]
        assert states == ['done' if i == index else 'pending' for i in range(3)]


def test_a_killed_worker_trial_is_reclaimed_and_done_once(tmp_path, data_dir):
    source = write_sweep(
        tmp_path,
        "sweep.product({'seed': [0, 1]})",
        base=TINY.replace('train.num_steps=4', 'train.num_steps=400')
        .replace('train.log_every=2', 'train.log_every=100')
        .replace('train.eval_every=4', 'train.eval_every=200'),
    )
    workdir = tmp_path / 'w'
    args = (f'--config={source}', f'--workdir={workdir}', '--sweep')
    proc = launch(*args, data_dir=data_dir, wait=False)
    first = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if first is None and os.path.exists(workdir / 'sweep.json'):
            first = json.load(open(workdir / 'sweep.json'))['trials'][0]['id']
        if first and (status_of(workdir, first) or {}).get('status') == 'running':
            break
        time.sleep(0.02)
    assert proc.poll() is None, 'the sweep ended before it could be killed'
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed = status_of(workdir, first)
    assert killed['status'] == 'running' and killed['pid'] == proc.pid
    assert os.path.exists(workdir / first / workdir_lib.CLAIM_FILE)  # Left behind by the kill.

    result = launch(*args, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'Breaking stale claim' in result.stderr and 'is dead' in result.stderr
    entries = json.load(open(workdir / 'sweep.json'))['trials']
    for entry in entries:
        status = status_of(workdir, entry['id'])
        assert status['status'] == 'done'
        assert [h['status'] for h in status['history']] == ['done']  # Done exactly once.
        assert status['attempts'] == (2 if entry['id'] == first else 1)
        assert not os.path.exists(workdir / entry['id'] / workdir_lib.CLAIM_FILE)

    # The same metrics as a sweep nobody interrupted: the killed trial resumed exactly.
    clean = tmp_path / 'clean'
    result = launch(f'--config={source}', f'--workdir={clean}', '--sweep', data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    for entry in entries:
        assert comparable_outputs(workdir / entry['id']) == comparable_outputs(clean / entry['id'])


def comparable_outputs(directory):
    """A trial's summary and metrics records without their timings."""
    timing = {'steps_per_s', 'wall_time_s', 'start_time'}
    strip = lambda r: {k: v for k, v in r.items() if k not in timing}  # noqa: E731
    summary = workdir_lib.read_summary(directory).to_dict()
    lines = open(directory / 'metrics.jsonl').read().splitlines()
    return strip(summary), [strip(json.loads(line)) for line in lines]


def test_vmap_seeds_merges_trials_that_differ_only_in_seed():
    trials = sweep.product({'model.depth': [1, 2], 'seed': [0, 1, 2]})
    merged = sweep.vmap_seeds(trials)
    assert merged == [
        {'model.depth': 1, 'seed': 0, sweep.VMAP_KEY: 3},
        {'model.depth': 2, 'seed': 0, sweep.VMAP_KEY: 3},
    ]
    assert sweep.vmap_seeds([{'seed': 4}]) == [{'seed': 4}]  # One seed: left as it is.
    with pytest.raises(SweepError, match=r'seeds \[0, 2\].*not consecutive'):
        sweep.vmap_seeds(sweep.product({'seed': [0, 2]}))


def test_a_vmapped_seeds_sweep_reports_each_seed(tmp_path, data_dir):
    from ecgdepth import results

    source = write_sweep(tmp_path, "sweep.product({'model.depth': [1, 2], 'seed': [0, 1]})")
    workdir = tmp_path / 'w'
    args = (f'--config={source}', f'--workdir={workdir}', '--sweep', '--vmap_seeds')
    listed = launch(*args, '--dry_run', data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert '2 trials' in listed.stdout and 'x2' in listed.stdout
    result = launch(*args, data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    entries = json.load(open(workdir / 'sweep.json'))['trials']
    assert [e['overrides'][sweep.VMAP_KEY] for e in entries] == [2, 2]
    table = results.collect(str(workdir))
    assert [row.counts()['done'] for row in table.rows] == [2, 2]
    for entry, row in zip(entries, table.rows, strict=True):
        for trial_result in row.trials:
            seed = trial_result.seed
            summary = workdir_lib.read_summary(workdir_lib.member_dir(workdir / entry['id'], seed))
            summary = summary.to_dict()
            assert trial_result.summary == summary and summary['seed'] == seed


def test_worker_payload_round_trip_keeps_the_config_and_its_hash():
    config = sweep.apply_overrides(tiny_base(), {'model.name': 'lstm', 'optim.weight_decay': 0})
    rebuilt = ml_collections.ConfigDict(json.loads(json.dumps(config.to_dict())))
    assert sweep.config_hash(rebuilt) == sweep.config_hash(config)
    assert rebuilt.optim.weight_decay == 0.0 and isinstance(rebuilt.optim.weight_decay, float)
