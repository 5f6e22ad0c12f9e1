"""Model families train end to end through launch.py on the real datasets (runlocal): each
family on one real dataset (every family trains on synthetic data elsewhere), scored by the
benchmark's own figures."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, shared_path

PAIRS = [('mitbih', 'dilated_cnn'), ('cinc2017', 'lstm')]
DATASETS = {
    'mitbih': ('mitdb',),
    'cinc2017': ('cinc2017', 'training2017'),
}


def launch(*args, data_dir):
    env = dict(os.environ, JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir)
    return subprocess.run(
        [sys.executable, 'launch.py', *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.parametrize(('dataset', 'family'), PAIRS)
def test_runlocal_launch_on_real_data(dataset, family, data_dir, tmp_path):
    manual_dir = shared_path(*DATASETS[dataset])
    workdir = tmp_path / 'run'
    result = launch(
        f'--config=configs/{family}.py:data={dataset},runlocal',
        f'--workdir={workdir}',
        f'--config.data.manual_dir={manual_dir}',
        '--config.train.num_steps=20',
        '--config.train.eval_every=20',
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.load(open(workdir / 'summary.json'))
    assert summary['status'] == 'done'
    assert summary['dataset'].startswith(dataset)
    assert set(summary['test']['per_class']) == set(summary['class_names'])
    for split in ('val', 'test'):
        assert 0.0 <= summary[split]['accuracy'] <= 1.0
    if dataset == 'mitbih':  # The figures the literature reports: S and V on DS2.
        for name in ('S', 'V'):
            assert {'sensitivity', 'ppv'} <= set(summary['test']['per_class'][name])
        supports = [c['support'] for c in summary['test']['per_class'].values()]
        assert sum(supports) == 512  # runlocal evaluates a fixed random 512 of DS2's beats.
        assert 0.0 <= summary['test']['aami_macro_f1'] <= 1.0
    else:  # Whole records: their windows' logits averaged, each record scored once.
        test = summary['test']
        assert 0.0 <= test['challenge_f1'] <= 1.0
        assert test['recordings'] == 256 < test['windows']  # runlocal: 256 records
        assert sum(c['support'] for c in test['per_class'].values()) == 256
