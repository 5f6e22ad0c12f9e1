"""The hypothesis experiments: every variant parses and lists its trials, and the smallest runs
end to end into a findings report."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO
from test_sweep import launch

from ecgdepth import findings, sweep, validation
from ecgdepth.data import synthetic
from ecgdepth.models.dilated_cnn import receptive_field

EXPERIMENTS = ['receptive_field', 'trainability', 'overfitting', 'matched_params', 'multiplicative']


def test_the_experiment_names_are_the_ones_findings_reads():
    assert set(EXPERIMENTS) == set(findings.EXPERIMENTS) == set(validation.EXPERIMENTS) - {''}
    for name in EXPERIMENTS:
        assert os.path.isfile(os.path.join(REPO, 'configs', 'experiments', f'{name}.py'))


@pytest.mark.parametrize('name', EXPERIMENTS)
@pytest.mark.parametrize('arg', ['runlocal', '', 'smoke'])
def test_every_experiment_expands_to_valid_trials_of_its_hypothesis(name, arg, monkeypatch):
    monkeypatch.chdir(REPO)
    loaded = sweep.load_sweep(f'configs/experiments/{name}.py:{arg}')  # Validates every trial.
    trials = loaded.trials
    assert trials and all(t.config.experiment == name for t in trials)
    seeds = {t.config.seed for t in trials}
    assert seeds == ({0} if arg == 'smoke' else {0, 1, 2})  # At least 3 seeds but in smoke.
    if arg == 'smoke':
        assert len(trials) <= 8 and all(t.config.train.num_steps <= 20 for t in trials)
    if arg == 'runlocal':
        assert all(t.config.model.width <= 64 for t in trials if 'iso_params' not in t.overrides)


def test_receptive_field_reads_the_last_position_and_sweeps_spans(monkeypatch):
    monkeypatch.chdir(REPO)
    trials = sweep.load_sweep('configs/experiments/receptive_field.py:runlocal').trials
    cnns = [t.config for t in trials if t.config.model.name == 'dilated_cnn']
    assert {c.model.readout for c in cnns} == {'last'}
    assert {c.model.dilation for c in cnns} == {'exponential'}  # Plain CNNs: full runs only.
    full = sweep.load_sweep('configs/experiments/receptive_field.py').trials
    assert {t.config.model.dilation for t in full if t.config.model.name == 'dilated_cnn'} == {
        'none',
        'exponential',
    }
    assert {t.config.data.motif_k for t in trials} == {1, 2, 4}
    assert {t.config.model.name for t in trials} == {'dilated_cnn', 'lstm'}
    assert {t.config.data.variant for t in trials} == {'recall'}
    # Every span lies between two of the dilated CNN's receptive fields: accuracy vs depth
    # shows where the field starts to cover it.
    for k in (1, 2, 4):
        span = synthetic.recall_span_samples(k, 50.0)
        fields = [
            receptive_field(c.model.kernel_size, c.model.depth, c.model.dilation,
                            c.model.dilation_cycle)
            for c in cnns if c.data.motif_k == k and c.model.dilation == 'exponential'
        ]  # fmt: skip
        assert min(fields) < span <= max(fields), (k, span, fields)


def test_the_smallest_experiment_runs_end_to_end_into_findings(tmp_path, data_dir):
    workdir = tmp_path / 'c'
    source = 'configs/experiments/overfitting.py:smoke'
    listed = launch(f'--config={source}', f'--workdir={workdir}', '--sweep', '--dry_run',
                    data_dir=data_dir)  # fmt: skip
    assert listed.returncode == 0 and '2 trials' in listed.stdout, listed.stderr[-2000:]
    result = launch(f'--config={source}', f'--workdir={workdir}', '--sweep', data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, '-m', 'ecgdepth.findings', str(workdir), '--noplots'],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    out = json.load(open(workdir / 'findings' / 'findings.json'))
    text = json.dumps(out)
    assert 'overfitting' in text
    md = open(workdir / 'findings' / 'findings.md').read()
    assert '(c)' in md and 'inconclusive' in md  # One seed: no CI, so no verdict either way.
