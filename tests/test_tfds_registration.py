"""TFDS as its users know it: tfds.builder / tfds.data_source find mitbih and cinc2017 by name
(ecgdepth/data/tfds_prep.py: register), prepared from a manual_dir of the small fixtures that
tests/test_data_mitbih.py and tests/test_data_cinc2017.py write."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow_datasets as tfds
from test_data_cinc2017 import write_record as write_cinc_record
from test_data_mitbih import DS1, DS2
from test_data_mitbih import write_record as write_wfdb_record

from ecgdepth import data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prepare(name, data_dir, manual_dir):
    """What a TFDS user types: the builder by name, prepared from a manual_dir."""
    data.register_tfds()
    builder = tfds.builder(name, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


def test_mitbih_beats_by_name_from_a_manual_dir(tmp_path):
    """The de Chazal split of 'beats' asks for every DS1 and DS2 record: 44 short ones."""
    db = tmp_path / 'db'
    db.mkdir()
    for record in sorted(DS1 | DS2):
        write_wfdb_record(db, record, 'NNANNVNNFN')  # AAMI N N S N N V N N F N
    assert {'beats', 'rhythm'} <= set(tfds.builder_cls('mitbih').builder_configs)
    builder = prepare('mitbih/beats', tmp_path / 'tfds', db)
    assert builder.builder_config.name == 'beats' and builder.info.file_format.value == (
        'array_record'
    )
    source = tfds.data_source('mitbih/beats', data_dir=str(tmp_path / 'tfds'))
    assert {split: len(s) for split, s in source.items()} == {
        'train': 10 * (len(DS1) - 4),
        'validation': 40,  # The 4 default validation records.
        'test': 10 * len(DS2),
    }
    names = builder.info.features['label'].names
    assert [names[source['test'][i]['label']] for i in range(10)] == list('NNSNNVNNFN')
    labels = [source['train'][i]['label'] for i in range(len(source['train']))]
    assert np.bincount(labels, minlength=5).tolist() == [7 * 18, 18, 18, 18, 0]


def test_cinc2017_by_name_from_a_manual_dir(tmp_path):
    folder = tmp_path / 'training2017'
    folder.mkdir()
    labels = {f'A{i:05d}': 'AN'[i % 2] for i in range(14)}
    for name in labels:
        write_cinc_record(folder, name)
    (folder / 'REFERENCE.csv').write_text(''.join(f'{n},{c}\n' for n, c in labels.items()))
    builder = prepare('cinc2017', tmp_path / 'tfds', tmp_path)  # Finds training2017/ inside.
    assert builder.info.metadata['source'].startswith('manual-')  # Not the download.
    source = tfds.data_source('cinc2017', data_dir=str(tmp_path / 'tfds'))
    counts = {split: len(s) for split, s in source.items()}
    assert counts == {'train': 10, 'validation': 2, 'test': 2}  # One window per 10 s record.
    names = builder.info.features['label'].names
    for split in source:
        for i in range(counts[split]):
            example = source[split][i]
            assert names[example['label']] == labels[example['record'].decode()]


def test_importing_registers_only_where_tfds_is_loaded_and_reloads_raise_nothing():
    script = textwrap.dedent(
        """
        import importlib, sys
        import ecgdepth.data
        assert 'tensorflow_datasets' not in sys.modules
        import tensorflow_datasets as tfds
        importlib.reload(ecgdepth.data)  # Imported with TFDS loaded: registers, lazily.
        assert 'ecgdepth.data.mitbih' not in sys.modules
        from tensorflow_datasets.core import registered
        assert tfds.builder_cls('mitbih').__module__ == 'ecgdepth.data.mitbih'
        from ecgdepth.data import cinc2017, mitbih, tfds_prep
        for module in (tfds_prep, mitbih, cinc2017, ecgdepth.data):
            importlib.reload(module)
        ecgdepth.data.register_tfds()
        assert tfds.builder_cls('mitbih') is mitbih.MitBih  # The reloaded class.
        assert tfds.builder_cls('cinc2017') is cinc2017.Cinc2017
        ours = [p for p in registered._DATASET_PROVIDER_REGISTRY if hasattr(p, 'ecgdepth_builders')]
        assert len(ours) == 1, ours
        """
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, '-c', script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
