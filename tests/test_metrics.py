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
