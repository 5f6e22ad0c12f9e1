"""Seeds of one config trained as one vmapped program: each member is its own seed's run."""

import json
import os

import numpy as np
import pytest
from test_resume import PreemptAt
from test_train import diverging_config, small_config

from ecgdepth import files, validation
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import loop

SEEDS = 3


def vmap_config(data_dir, cache_dir):
    config = small_config('lstm', 1, data_dir)
    config.model.dropout = 0.1  # Each member draws its own dropout masks.
    config.train.num_steps = 20
    config.train.checkpoint_every = 10
    config.train.vmap_seeds = SEEDS
    config.train.diagnostics = False  # Diagnostics per member are tested in test_diagnostics.
    config.train.compilation_cache_dir = str(cache_dir)  # Shared: these runs compile once.
    return config


def losses(workdir):
    records = files.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
    return [r['loss'] for r in records if r['type'] == 'train']


def read(path):
    with open(path) as f:
        return json.load(f)


def read_summary(directory):
    return workdir_lib.read_summary(directory).to_dict()


@pytest.fixture(scope='module')
def vmapped(data_dir, cache_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('vmapped')
    return workdir, loop.train_and_evaluate(vmap_config(data_dir, cache_dir), str(workdir))


def test_each_member_matches_a_separate_run_with_its_seed(vmapped, data_dir, cache_dir, tmp_path):
    workdir, group = vmapped
    assert group['status'] == 'done'
    assert [m['seed'] for m in group['members']] == [0, 1, 2]
    for k in (2,):  # The last member: its slot along the seed axis is not the first.
        config = vmap_config(data_dir, cache_dir)
        config.seed, config.train.vmap_seeds = k, 1
        alone = loop.train_and_evaluate(config, str(tmp_path / f'seed{k}'))
        member_dir = workdir / f'seed_{k}'
        member = read_summary(member_dir)
        assert member['status'] == 'done' and member['seed'] == k
        np.testing.assert_allclose(losses(member_dir), losses(tmp_path / f'seed{k}'), rtol=2e-4)
        assert member['best_step'] == alone['best_step']
        for split in ('val', 'test', 'train'):
            np.testing.assert_allclose(member[split]['loss'], alone[split]['loss'], rtol=2e-4)
            assert member[split]['confusion'] == alone[split]['confusion']
        # The member's config.json is exactly the config of that separate run.
        assert read(member_dir / 'config.json') == read(tmp_path / f'seed{k}' / 'config.json')
    # The seeds really differ: own init, data order and dropout.
    assert losses(workdir / 'seed_0') != losses(workdir / 'seed_1')


def test_a_preempted_vmapped_run_resumes_to_identical_results(
    vmapped, data_dir, cache_dir, tmp_path, monkeypatch
):
    reference, _ = vmapped
    with monkeypatch.context() as patch:
        patch.setattr(loop, 'Preemption', lambda: PreemptAt(13))
        summary = loop.train_and_evaluate(vmap_config(data_dir, cache_dir), str(tmp_path))
    assert summary['status'] == 'preempted' and summary['preempted_step'] == 13
    assert read_summary(workdir_lib.member_dir(tmp_path, 1))['status'] == 'preempted'
    resumed = loop.train_and_evaluate(vmap_config(data_dir, cache_dir), str(tmp_path))
    assert resumed['status'] == 'done'
    strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_s'} for r in rs]  # noqa: E731
    for seed in range(SEEDS):
        got, want = tmp_path / f'seed_{seed}', reference / f'seed_{seed}'
        assert strip(files.read_jsonl(got / 'metrics.jsonl')) == strip(
            files.read_jsonl(want / 'metrics.jsonl')
        )
        timing = {'steps_per_s', 'wall_time_s'}
        a, b = read_summary(got), read_summary(want)
        assert {k: v for k, v in a.items() if k not in timing} == {
            k: v for k, v in b.items() if k not in timing
        }


def test_vmapped_seeds_that_all_diverge_are_recorded(data_dir, tmp_path):
    config = diverging_config(1, data_dir)
    config.train.vmap_seeds = 2
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert summary['status'] == 'diverged'
    for seed in (0, 1):
        member = read_summary(workdir_lib.member_dir(tmp_path, seed))
        assert member['status'] == 'diverged' and member['diverged_step'] >= 1


def test_vmapped_seeds_on_several_devices_are_refused_before_compute():
    class Mesh:
        size = 2

    with pytest.raises(validation.ConfigError, match='vmap_seeds'):
        loop.check_vmap_seeds(3, Mesh())
    loop.check_vmap_seeds(1, Mesh())
