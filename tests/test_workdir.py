"""The workdir contract: the JSON reader's one error policy and summary.json's schema."""

from __future__ import annotations

import json

import pytest

from ecgdepth import files, workdir


def test_read_json_absent_is_none_and_damage_names_the_file(tmp_path):
    assert workdir.read_json(str(tmp_path / 'absent.json')) is None
    (tmp_path / 'cut.json').write_text('{"status": "do')
    with pytest.raises(workdir.CorruptFile, match=r'cut.json is not valid JSON .*delete it'):
        workdir.read_json(str(tmp_path / 'cut.json'))
    (tmp_path / 'list.json').write_text('[1, 2]')
    with pytest.raises(workdir.CorruptFile, match='list.json holds list, not a JSON object'):
        workdir.read_json(str(tmp_path / 'list.json'))


def test_a_summary_keeps_the_flat_layout_with_a_version(tmp_path):
    summary = workdir.Summary(
        status=workdir.DONE,
        best_step=None,
        val={'accuracy': 0.5},
        extra={'flops_per_example': 10, 'label_noise': 0.1},
    )
    workdir.write_summary(str(tmp_path), summary)
    raw = json.loads((tmp_path / workdir.SUMMARY_FILE).read_text())
    assert raw == {
        'status': 'done',
        'best_step': None,  # Set to None: written as null; unset fields are absent.
        'val': {'accuracy': 0.5},
        'flops_per_example': 10,
        'label_noise': 0.1,
        'version': workdir.SUMMARY_VERSION,
    }
    assert workdir.read_summary(str(tmp_path)) == summary
    assert workdir.Summary.from_dict(raw).to_dict() == raw


def test_a_summary_without_a_version_is_an_old_run(tmp_path):
    files.write_json(str(tmp_path / workdir.SUMMARY_FILE), {'status': 'failed', 'error': 'E: x'})
    summary = workdir.read_summary(str(tmp_path))
    assert (summary.status, summary.error, summary.version) == ('failed', 'E: x', 1)
    assert workdir.read_summary(str(tmp_path / 'nowhere')) is None


def test_a_summary_of_a_newer_version_is_refused(tmp_path):
    files.write_json(str(tmp_path / workdir.SUMMARY_FILE), {'status': 'done', 'version': 99})
    with pytest.raises(workdir.CorruptFile, match='summary version 99'):
        workdir.read_summary(str(tmp_path))


def test_the_status_vocabulary():
    assert workdir.FINISHED == ('done', 'diverged')
    assert workdir.STATES == ('done', 'diverged', 'failed', 'running', 'pending', 'missing')
    assert workdir.member_dir('w', 3).endswith('seed_3')
