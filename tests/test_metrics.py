"""Metrics from the confusion matrix, and atomic, strict-JSON outputs."""

import json
import math
import os

import numpy as np
import pytest

from ecgdepth import files, metrics


def test_metrics_from_a_known_confusion_matrix():
    # rows: true N, S, V; columns: predicted.
    confusion = np.array([[8, 1, 1], [2, 2, 0], [0, 0, 6]])
    result = metrics.classification_metrics(confusion, ['N', 'S', 'V'])
    assert result['accuracy'] == pytest.approx(16 / 20)
    per = result['per_class']
    assert per['N']['sensitivity'] == pytest.approx(0.8)
    assert per['N']['ppv'] == pytest.approx(0.8)
    assert per['S']['sensitivity'] == pytest.approx(0.5)
    assert per['S']['ppv'] == pytest.approx(2 / 3)
    assert per['V']['ppv'] == pytest.approx(6 / 7)
    f1 = [0.8, 2 * 2 / (4 + 3), 2 * 6 / (6 + 7)]
    assert result['macro_f1'] == pytest.approx(np.mean(f1))
    assert per['S']['support'] == 4


def test_an_absent_class_has_undefined_rates_and_is_left_out_of_macro_f1():
    confusion = np.array([[5, 0, 0], [0, 5, 0], [0, 0, 0]])
    result = metrics.classification_metrics(confusion, ['a', 'b', 'c'])
    assert result['per_class']['c']['sensitivity'] is None
    assert result['macro_f1'] == pytest.approx(1.0)


def test_atomic_json_writes_leave_no_temporary_files(tmp_path):
    path = os.path.join(tmp_path, 'out', 'summary.json')
    files.write_json(path, {'loss': float('nan'), 'x': [1.0, math.inf], 'ok': 2})
    assert json.load(open(path)) == {'loss': None, 'x': [1.0, None], 'ok': 2}
    files.write_jsonl(os.path.join(tmp_path, 'out', 'm.jsonl'), [{'a': 1}, {'a': 2}])
    assert files.read_jsonl(os.path.join(tmp_path, 'out', 'm.jsonl')) == [{'a': 1}, {'a': 2}]
    assert sorted(os.listdir(os.path.join(tmp_path, 'out'))) == ['m.jsonl', 'summary.json']


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = os.path.join(tmp_path, 'summary.json')
    files.write_json(path, {'status': 'running'})
    with pytest.raises(TypeError):
        files.write_json(path, {'status': object()})
    assert json.load(open(path)) == {'status': 'running'}
    assert os.listdir(tmp_path) == ['summary.json']


def test_challenge_f1_is_the_official_mean_of_n_a_o():
    # CinC 2017 scoring (Clifford et al. 2017): F1_c = 2 * C_c / (row sum + column sum) of the
    # N, A and O classes, averaged; the noisy class counts in the table but not in the mean.
    confusion = np.array([[50, 2, 5, 3], [1, 8, 1, 0], [6, 1, 20, 3], [2, 0, 1, 4]])
    scores = {'challenge_f1': ('N', 'A', 'O')}
    result = metrics.classification_metrics(confusion, ['N', 'A', 'O', '~'], scores)
    rows, cols = confusion.sum(1), confusion.sum(0)
    official = np.mean([2 * confusion[i, i] / (rows[i] + cols[i]) for i in range(3)])
    assert result['challenge_f1'] == pytest.approx(official)
    assert result['challenge_f1'] != pytest.approx(result['macro_f1'])  # ~ counts there


def test_aami_score_leaves_q_out_of_the_mean():
    names = ['N', 'S', 'V', 'F', 'Q']
    confusion = np.diag([10, 4, 5, 2, 0])
    confusion[4, 0] = 3  # Q beats called N: N's precision falls, Q's F1 is 0
    result = metrics.classification_metrics(confusion, names, {'aami': ('N', 'S', 'V', 'F')})
    n_f1 = 2 * 10 / (10 + 13)
    assert result['aami'] == pytest.approx(np.mean([n_f1, 1, 1, 1]))
    assert result['macro_f1'] == pytest.approx(np.mean([n_f1, 1, 1, 1, 0]))


def test_a_recording_is_scored_once_from_its_windows_mean_logits():
    # Recording 0 (label 0): two windows lean to class 1 a little, one to class 0 a lot; the
    # mean logit picks class 0 where a vote of windows would pick 1.
    logits = np.array([[0.0, 0.2], [0.0, 0.3], [2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = np.array([0, 0, 0, 1, 1])
    groups = np.array([0, 0, 0, 7, 7])  # ids need not be consecutive
    confusion = metrics.group_confusion(logits, labels, groups, 2)
    # Recording 7 (label 1): mean logits (0.5, 0.5): argmax takes the first class.
    np.testing.assert_array_equal(confusion, [[1, 0], [1, 0]])
