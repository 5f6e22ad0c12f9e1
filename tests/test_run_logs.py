"""What a run leaves to read besides its summary: TensorBoard event files that TensorBoard's own
reader takes, an append-only metrics.jsonl, and log.txt, across a run killed after a checkpoint
and resumed."""

import logging
import os
import shutil

import orbax.checkpoint as ocp
import pytest
from absl import logging as absl_logging
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_train import small_config

from ecgdepth import files, logs
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import loop
from ecgdepth.train import members as members_lib

TIMING = {'steps_per_s', 'wall_time_s', 'start_time'}
TAGS = {
    'train/loss',
    'train/accuracy',
    'train/learning_rate',
    'train/grad_norm',
    'train/steps_per_second',
    'eval/validation/accuracy',
    'eval/validation/loss',
    'eval/train/loss',
    'diagnostics/grad_norm_ratio',
}


def records(workdir):
    return files.read_jsonl(os.path.join(workdir, workdir_lib.METRICS_FILE))


def without_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def scalars(workdir):
    """tag -> [(step, value)] as TensorBoard reads the run's event files."""
    accumulator = EventAccumulator(os.path.join(workdir, workdir_lib.TENSORBOARD_DIR))
    accumulator.Reload()
    return {
        tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()['scalars']
    }


@pytest.fixture(scope='module')
def runs(data_dir, tmp_path_factory):
    """A run of 20 steps (checkpoints at 10 and 20), then the same run 'killed' after its
    checkpoint at 10 (the one at 20 removed: steps 11-20 were logged but not checkpointed)
    and relaunched. Counts the whole-file rewrites of metrics.jsonl in each."""
    config = small_config('dilated_cnn', 1, data_dir)
    config.train.checkpoint_every = 10
    workdir = str(tmp_path_factory.mktemp('run'))
    rewrites = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, 'write_jsonl', lambda *a: rewrites.append(a[0]))
        verbosity = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.INFO)  # As launch.py's default.
        try:
            loop.train_and_evaluate(config, workdir)
            first = {'records': records(workdir), 'rewrites': list(rewrites)}
            first['scalars'] = scalars(workdir)
            shutil.rmtree(os.path.join(workdir, workdir_lib.CHECKPOINT_DIR, '20'))
            del rewrites[:]
            patch.undo()  # The resumed run rewrites for real.
            loop.train_and_evaluate(config, workdir)
        finally:
            absl_logging.set_verbosity(verbosity)
    return workdir, first


def test_event_files_hold_each_records_numbers_at_its_step(runs):
    _, first = runs
    got = first['scalars']
    assert TAGS <= set(got)
    train = [r for r in first['records'] if r['type'] == 'train']
    evals = [r for r in first['records'] if r['type'] == 'eval']
    assert [step for step, _ in got['train/loss']] == [r['step'] for r in train] == [5, 10, 15, 20]
    assert [v for _, v in got['train/loss']] == pytest.approx([r['loss'] for r in train])
    assert [v for _, v in got['train/learning_rate']] == pytest.approx(
        [r['learning_rate'] for r in train], rel=1e-6
    )
    assert [step for step, _ in got['eval/validation/accuracy']] == [r['step'] for r in evals]
    assert [v for _, v in got['eval/validation/accuracy']] == pytest.approx(
        [r['validation']['accuracy'] for r in evals]
    )
    assert [step for step, _ in got['diagnostics/grad_norm_ratio']] == [0, 10, 20]


def test_metrics_are_appended_and_a_resumed_run_repeats_none(runs):
    workdir, first = runs
    assert first['rewrites'] == []  # Appended as logged, never rewritten whole.
    resumed = records(workdir)
    steps = [(r['type'], r['step']) for r in resumed]
    assert len(steps) == len(set(steps))  # Steps 11-20 were logged twice, recorded once.
    assert without_timing(resumed) == without_timing(first['records'])


def test_a_resumed_runs_event_files_read_as_one_run(runs):
    workdir, first = runs
    got = scalars(workdir)
    assert set(got) == set(first['scalars'])
    for tag, points in got.items():
        assert [s for s, _ in points] == [s for s, _ in first['scalars'][tag]], tag
    assert len(os.listdir(os.path.join(workdir, workdir_lib.TENSORBOARD_DIR))) == 2  # Attempts.


def test_log_txt_holds_both_attempts_progress_without_orbax(runs):
    workdir, _ = runs
    with open(os.path.join(workdir, workdir_lib.LOG_FILE)) as f:
        text = f.read()
    assert text.count('step 20/20') == 2  # Appended by the relaunch.
    assert 'Resuming from the checkpoint at step 10 of 20.' in text
    assert 'Checkpoint at step 10' in text  # Ours; orbax's own INFO lines are left out:
    assert 'checkpoint_manager.py' not in text


def make_record(path, level):
    return logging.LogRecord('absl', level, path, 1, 'message', None, None)


def test_third_party_info_passes_only_at_a_higher_verbosity():
    quiet = logs.QuietThirdParty()
    orbax_file = os.path.join(os.path.dirname(ocp.__file__), 'checkpoint_manager.py')
    verbosity = absl_logging.get_verbosity()
    try:
        absl_logging.set_verbosity(absl_logging.INFO)  # --verbosity=0, the default.
        assert not quiet.filter(make_record(orbax_file, logging.INFO))
        assert quiet.filter(make_record(orbax_file, logging.WARNING))
        assert quiet.filter(make_record(loop.__file__, logging.INFO))
        absl_logging.set_verbosity(absl_logging.DEBUG)  # --verbosity=1.
        assert quiet.filter(make_record(orbax_file, logging.INFO))
    finally:
        absl_logging.set_verbosity(verbosity)


def test_a_checkpoint_of_before_appending_still_restores():
    """Older checkpoints hold every record: they restore as their count and step-0 probe."""
    initial = {'type': 'diagnostics', 'step': 0, 'grad_norm_per_layer': [1.0]}
    old = {'records': [initial, {'type': 'train', 'step': 5, 'loss': 1.0}], 'best_value': None}
    progress = members_lib.Progress.from_meta(old)
    assert progress.num_records == 2
    assert progress.initial_diagnostics == initial
