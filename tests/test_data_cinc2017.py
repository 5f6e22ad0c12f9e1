"""Tests for the PhysioNet/CinC 2017 builder and loader.

Real-data tests use the staged records in ../shared/data/cinc2017/training2017 (skipped when
absent). Most use a 300-record subset (symlinks), which also exercises the 'records missing'
path; one module fixture prepares all staged records once to check the real class counts.
Corrupt-record fixtures are written with wfdb in tmp_path.
"""

import logging
import math
import os
import re
import shutil

import ml_collections
import numpy as np
import pytest
import wfdb

from ecgdepth import data
from ecgdepth.data import cinc2017

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data', 'cinc2017', 'training2017'))
STAGED_COUNTS = {'N': 3029, 'A': 446, 'O': 1350, '~': 175}
NUM_LABELLED = 8528
SUBSET = 300


def make_config(data_dir, manual_dir, **overrides):
    """One window per record unless `windows` says otherwise (the tests that index records)."""
    cfg = dict(name='cinc2017', data_dir=str(data_dir), **cinc2017.DEFAULTS)
    cfg.update(manual_dir=str(manual_dir), **{'windows': 'one', **overrides})
    return ml_collections.ConfigDict(cfg)


def check(data_config):
    """The dataset's config check, through the registry (it reads config.data only)."""
    data.dataset('cinc2017').check(
        ml_collections.ConfigDict({'data': data_config}), 'classification'
    )


def require_shared():
    if not os.path.isfile(os.path.join(SHARED, 'REFERENCE.csv')):
        pytest.skip(f'CinC 2017 data not found at {SHARED}')


def link_subset(folder, names, reference_text=None):
    """A manual_dir holding symlinks to some staged records plus a reference csv."""
    os.makedirs(folder, exist_ok=True)
    for name in names:
        for ext in ('.hea', '.mat'):
            os.symlink(os.path.join(SHARED, name + ext), os.path.join(folder, name + ext))
    ref = os.path.join(folder, 'REFERENCE.csv')
    if reference_text is None:
        shutil.copy(os.path.join(SHARED, 'REFERENCE.csv'), ref)
    else:
        with open(ref, 'w') as f:
            f.write(reference_text)
    return str(folder)


def staged_names(n=None):
    with open(os.path.join(SHARED, 'STAGED_RECORDS')) as f:
        names = sorted(line.strip() for line in f if line.strip())
    return names[:n] if n else names


def header_length(name):
    return wfdb.rdheader(os.path.join(SHARED, name)).sig_len


@pytest.fixture(scope='module')
def subset_dir(tmp_path_factory):
    require_shared()
    return link_subset(tmp_path_factory.mktemp('c17subset'), staged_names(SUBSET))


@pytest.fixture(scope='module')
def subset(subset_dir, data_dir):
    return data.load(make_config(data_dir, subset_dir))


@pytest.fixture(scope='module')
def full(data_dir):
    require_shared()
    return data.load(make_config(data_dir, SHARED))


# ------------------------------------------------------------------ arrays, masks, windows


def test_shapes_dtypes(subset):
    assert subset.name == 'cinc2017'
    assert subset.class_names == ('N', 'A', 'O', '~')
    assert subset.sample_rate == 300.0
    assert subset.input_shape == (9000, 1)
    total = 0
    for split in data.SPLITS:
        arrays = subset.splits[split]
        n = len(arrays['y'])
        total += n
        assert arrays['x'].dtype == np.float32 and arrays['x'].shape == (n, 9000, 1)
        assert arrays['y'].dtype == np.int32 and arrays['y'].shape == (n,)
        assert arrays['mask'].dtype == np.bool_ and arrays['mask'].shape == (n, 9000)
        assert set(np.unique(arrays['y'])) <= {0, 1, 2, 3}
        assert len(subset.info['records'][split]) == n
    assert total == SUBSET


def test_mask_matches_record_length_and_padding_is_zero(subset):
    padded = 0
    for split in data.SPLITS:
        arrays = subset.splits[split]
        for i, name in enumerate(subset.info['records'][split]):
            length = header_length(name)
            mask = arrays['mask'][i]
            valid = min(length, 9000)
            assert mask.sum() == valid, name
            assert mask[:valid].all(), name  # real signal first, padding at the end
            assert not arrays['x'][i, valid:, 0].any(), name
            padded += length < 9000
    assert padded > 0  # the subset has records shorter than 30 s


def test_signal_is_the_record_in_mv(subset):
    arrays = subset.splits['train']
    for i, name in enumerate(subset.info['records']['train'][:5]):
        ref = wfdb.rdrecord(os.path.join(SHARED, name)).p_signal[:9000, 0]
        np.testing.assert_allclose(arrays['x'][i, : len(ref), 0], ref, atol=1e-6)


def test_read_record_matches_wfdb():
    require_shared()
    for name in ('A00001', 'A00013', 'A00117'):
        ref = wfdb.rdrecord(os.path.join(SHARED, name)).p_signal[:, 0]
        np.testing.assert_allclose(cinc2017.read_record(SHARED, name), ref, atol=1e-6)


def test_crop_start_center_and_pad():
    sig = np.arange(10, dtype=np.float32)
    params = dict(cinc2017.DEFAULTS, window_seconds=6 / 300)
    x, mask = cinc2017.make_window(sig, params)
    assert x.shape == (6, 1) and mask.all() and x[0, 0] == 0
    x, mask = cinc2017.make_window(sig, dict(params, crop='center'))
    np.testing.assert_array_equal(x[:, 0], sig[2:8])
    x, mask = cinc2017.make_window(sig[:4] + 1, params)
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(mask, [1, 1, 1, 1, 0, 0])


def test_window_starts_cover_the_record():
    params = dict(cinc2017.DEFAULTS, window_seconds=4 / 300, window_overlap=0.5)
    assert cinc2017.window_starts(10, params) == [0, 2, 4, 6]
    assert cinc2017.window_starts(11, params) == [0, 2, 4, 6, 7]  # the last ends at the end
    assert cinc2017.window_starts(3, params) == [0]  # shorter: one padded window
    assert cinc2017.window_starts(11, dict(params, window_overlap=0.0)) == [0, 4, 7]
    assert cinc2017.window_starts(11, dict(params, windows='one', crop='center')) == [3]
    x, mask = cinc2017.make_windows(np.arange(11, dtype=np.float32), params)
    assert x.shape == (5, 4, 1) and mask.all()
    np.testing.assert_array_equal(x[-1, :, 0], [7, 8, 9, 10])


def test_cover_windows_are_grouped_by_record_and_cover_it(subset_dir, data_dir):
    ds = data.load(make_config(data_dir, subset_dir, windows='cover', sample_rate=100.0))
    params = dict(cinc2017.DEFAULTS, sample_rate=100.0)
    total_records = 0
    for split in data.SPLITS:
        arrays, names = ds.splits[split], ds.info['records'][split]
        total_records += len(names)
        assert sorted(set(arrays['group'].tolist())) == list(range(len(names)))
        for g in (0, len(names) // 2, len(names) - 1):
            rows = np.flatnonzero(arrays['group'] == g)
            signal = cinc2017.resample(cinc2017.read_record(SHARED, names[g]), params)
            starts = cinc2017.window_starts(len(signal), params)
            assert len(rows) == len(starts), names[g]
            assert len(set(arrays['y'][rows].tolist())) == 1
            for row, start in zip(rows, starts, strict=True):
                piece = signal[start : start + 3000]
                np.testing.assert_allclose(arrays['x'][row, : len(piece), 0], piece, atol=1e-6)
                assert arrays['mask'][row].sum() == len(piece)
    assert total_records == SUBSET
    assert sum(len(ds.splits[s]['y']) for s in data.SPLITS) > SUBSET  # long records: several
    assert ds.scores == {'challenge_f1': ('N', 'A', 'O')}


def test_conditioning_filters_then_normalises_the_record_before_windowing():
    require_shared()
    from ecgdepth.data import preprocess

    raw = cinc2017.read_record(SHARED, 'A00001')
    params = dict(cinc2017.DEFAULTS, record_norm='median_mad', bandpass='0.5,40')
    x = cinc2017.resample(raw, params)
    expected = preprocess.condition(raw, 300.0, 'median_mad', (0.5, 40.0), 2)
    np.testing.assert_allclose(x, expected, atol=1e-5)
    assert abs(np.median(x)) < 1e-6  # centred by its own median
    assert not np.allclose(x, raw)


def test_resample_to_100hz(subset_dir, data_dir):
    ds = data.load(make_config(data_dir, subset_dir, sample_rate=100.0, crop='center'))
    assert ds.sample_rate == 100.0 and ds.input_shape == (3000, 1)
    arrays, names = ds.splits['validation'], ds.info['records']['validation']
    for i, name in enumerate(names):
        assert arrays['mask'][i].sum() == min(math.ceil(header_length(name) / 3), 3000)
    # Center crop of a long record: its middle, resampled.
    long = next(i for i, n in enumerate(names) if header_length(n) > 12000)
    params = dict(cinc2017.DEFAULTS, sample_rate=100.0, crop='center')
    x, _ = cinc2017.make_window(cinc2017.read_record(SHARED, names[long]), params)
    np.testing.assert_allclose(arrays['x'][long], x, atol=1e-6)


# ------------------------------------------------------------------ counts and splits


def test_full_staged_counts_and_stratification(full):
    counts = full.info['counts']
    for c in cinc2017.CLASS_NAMES:
        assert sum(counts[s][c] for s in data.SPLITS) == STAGED_COUNTS[c]
    total = sum(STAGED_COUNTS.values())
    overall = np.array([STAGED_COUNTS[c] for c in cinc2017.CLASS_NAMES]) / total
    for split, fraction in (('train', 0.7), ('validation', 0.15), ('test', 0.15)):
        y = full.splits[split]['y']
        assert abs(len(y) / total - fraction) < 0.005
        stored = [counts[split][c] for c in cinc2017.CLASS_NAMES]
        np.testing.assert_array_equal(np.bincount(y, minlength=4), stored)
        np.testing.assert_allclose(np.bincount(y, minlength=4) / len(y), overall, atol=0.01)
    names = [set(full.info['records'][s]) for s in data.SPLITS]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert set.union(*names) == set(staged_names())
    assert full.info['missing_records'] == NUM_LABELLED - total
    assert full.info['num_present'] == total


def test_split_deterministic_by_seed_and_disjoint():
    require_shared()
    labels = cinc2017.read_reference(os.path.join(SHARED, 'REFERENCE.csv'))
    labels = {n: labels[n] for n in staged_names()}
    a = cinc2017.assign_splits(labels, cinc2017.DEFAULTS)
    assert a == cinc2017.assign_splits(labels, cinc2017.DEFAULTS)
    b = cinc2017.assign_splits(labels, dict(cinc2017.DEFAULTS, split_seed=1))
    assert a['test'] != b['test']
    for splits in (a, b):
        assert sum(len(v) for v in splits.values()) == len(labels)
        assert set().union(*splits.values()) == set(labels)


def test_loaded_split_is_assign_splits(subset, subset_dir):
    scan = cinc2017.scan_folder(subset_dir, os.path.join(subset_dir, 'REFERENCE.csv'))
    expected = cinc2017.assign_splits(scan.labels, cinc2017.DEFAULTS)
    for split in data.SPLITS:
        assert list(subset.info['records'][split]) == expected[split]


def test_kfold_folds_disjoint_and_cover_non_test():
    require_shared()
    labels = cinc2017.read_reference(os.path.join(SHARED, 'REFERENCE.csv'))
    labels = {n: labels[n] for n in staged_names()}
    plain = cinc2017.assign_splits(labels, cinc2017.DEFAULTS)
    folds = []
    for fold in range(5):
        s = cinc2017.assign_splits(labels, dict(cinc2017.DEFAULTS, num_folds=5, fold=fold))
        assert s['test'] == plain['test']  # the test split does not depend on the folds
        assert not set(s['train']) & set(s['validation'])
        assert set(s['train']) | set(s['validation']) == set(labels) - set(plain['test'])
        folds.append(set(s['validation']))
    assert (
        sum(len(f) for f in folds) == len(set().union(*folds)) == len(labels) - len(plain['test'])
    )
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for c in cinc2017.CLASS_NAMES:  # stratified: each class spread evenly over the folds
        per_fold = [sum(labels[n] == c for n in f) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1


def test_kfold_load(subset_dir, data_dir):
    ds = data.load(make_config(data_dir, subset_dir, num_folds=4, fold=2))
    scan = cinc2017.scan_folder(subset_dir, os.path.join(subset_dir, 'REFERENCE.csv'))
    expected = cinc2017.assign_splits(scan.labels, dict(cinc2017.DEFAULTS, num_folds=4, fold=2))
    for split in data.SPLITS:
        assert list(ds.info['records'][split]) == expected[split]
    assert 'kfold4-fold2' in ds.info['config']


# ------------------------------------------------------------------ subsets and errors


def test_missing_records_warning_and_headerless_reference(tmp_path, caplog):
    require_shared()
    names = staged_names(40)
    with open(os.path.join(SHARED, 'REFERENCE.csv')) as f:
        rows = f.read().splitlines()[1:]  # drop the mirror's header: PhysioNet's file has none
    folder = link_subset(tmp_path / 'few', names, '\n'.join(rows) + '\n')
    with caplog.at_level(logging.WARNING):
        ds = data.load(make_config(tmp_path / 'tfds', folder))
    assert ds.info['missing_records'] == NUM_LABELLED - len(names)
    assert sum(len(ds.splits[s]['y']) for s in data.SPLITS) == len(names)
    text = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f'{NUM_LABELLED - len(names)} of {NUM_LABELLED} labelled' in m for m in text), text


def test_no_records_present_names_the_folder(tmp_path):
    require_shared()
    folder = link_subset(tmp_path / 'empty', [])
    with pytest.raises(ValueError, match=re.escape(f'No CinC 2017 records in {folder}')):
        data.load(make_config(tmp_path / 'tfds', folder))


def test_reference_with_and_without_header(tmp_path):
    rows = 'A00001,N\nA00002,A\n A00003 , ~ \n\n'
    (tmp_path / 'plain.csv').write_text(rows)
    (tmp_path / 'header.csv').write_text('data_source,class\n' + rows)
    expected = {'A00001': 'N', 'A00002': 'A', 'A00003': '~'}
    assert cinc2017.read_reference(tmp_path / 'plain.csv') == expected
    assert cinc2017.read_reference(tmp_path / 'header.csv') == expected


@pytest.mark.parametrize(
    'bad, problem',
    [
        ('A00003,N,x', 'expected 2'),
        ('A00003', 'expected 2'),
        ('A00003,X', 'unknown label'),
        (',N', 'bad record name'),
        ('A00001,O', 'duplicate record'),
    ],
)
def test_bad_reference_row_names_file_and_line(tmp_path, bad, problem):
    path = tmp_path / 'REFERENCE.csv'
    path.write_text(f'data_source,class\nA00001,N\nA00002,A\n{bad}\n')
    with pytest.raises(ValueError, match=re.escape(f'{path}, line 4: {problem}')):
        cinc2017.read_reference(path)


def test_bad_first_line_is_not_taken_for_a_header(tmp_path):
    path = tmp_path / 'REFERENCE.csv'
    path.write_text('A00001,X\nA00002,A\n')
    with pytest.raises(ValueError, match='line 1: unknown label'):
        cinc2017.read_reference(path)


def write_record(folder, name, n=3000, fs=300):
    t = np.arange(n) / fs
    sig = (0.5 * np.sin(2 * np.pi * 1.2 * t))[:, None]
    wfdb.wrsamp(
        name, fs=fs, units=['mV'], sig_name=['ECG'], p_signal=sig, fmt=['16'], write_dir=str(folder)
    )
    return sig[:, 0]


def test_wfdb_fixture_round_trip(tmp_path):
    sig = write_record(tmp_path, 'R1')
    np.testing.assert_allclose(cinc2017.read_record(tmp_path, 'R1'), sig, atol=1e-3)


def test_truncated_data_names_the_file(tmp_path):
    write_record(tmp_path, 'R1')
    dat = tmp_path / 'R1.dat'
    dat.write_bytes(dat.read_bytes()[:-100])
    with pytest.raises(ValueError, match=re.escape(f'{dat}: ') + '.*truncated or mismatched'):
        cinc2017.read_record(tmp_path, 'R1')


def test_header_length_mismatch_names_the_file(tmp_path):
    write_record(tmp_path, 'R1', n=3000)
    hea = tmp_path / 'R1.hea'
    hea.write_text(hea.read_text().replace(' 3000', ' 3500', 1))
    with pytest.raises(
        ValueError, match=re.escape(f'{tmp_path / "R1.dat"}: 6000 bytes, but {hea}')
    ):
        cinc2017.read_record(tmp_path, 'R1')


def test_wrong_sampling_rate_names_the_header(tmp_path):
    write_record(tmp_path, 'R1', fs=250)
    with pytest.raises(
        ValueError, match=re.escape(f'{tmp_path / "R1.hea"}: sampling frequency 250')
    ):
        cinc2017.read_record(tmp_path, 'R1')


def test_truncated_mat_fails_preparation_naming_the_file(tmp_path):
    require_shared()
    names = staged_names(30)
    folder = link_subset(tmp_path / 'corrupt', names)
    mat = os.path.join(folder, names[3] + '.mat')
    with open(os.path.join(SHARED, names[3] + '.mat'), 'rb') as f:
        raw = f.read()
    os.remove(mat)
    with open(mat, 'wb') as f:
        f.write(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=re.escape(f'{mat}: ') + '.*truncated or mismatched'):
        data.load(make_config(tmp_path / 'tfds', folder))


# ------------------------------------------------------------------ download mode, params


def test_download_mode_uses_physionet_files(tmp_path):
    """Offline stand-in for the download manager: the zip's layout plus REFERENCE-v3.csv."""
    require_shared()
    extracted = tmp_path / 'extracted' / 'training2017'
    names = staged_names(20)
    link_subset(extracted, names, 'A00001,~\n')  # the zip's own (older) labels: must be unused
    (extracted / 'RECORDS').write_text('\n'.join(names) + '\n')
    v3 = tmp_path / 'REFERENCE-v3.csv'
    with open(os.path.join(SHARED, 'REFERENCE.csv')) as f:
        v3.write_text(''.join(f.readlines()[1:]))

    class FakeDownloadManager:
        @property
        def manual_dir(self):  # As TFDS's, given no (or an empty) manual dir.
            raise AssertionError('Manual directory not enabled.')

        def download_and_extract(self, urls):
            assert urls == cinc2017.URLS
            return {'records': tmp_path / 'extracted', 'reference': v3}

    builder = cinc2017.Cinc2017(data_dir=str(tmp_path / 'tfds'), file_format='array_record')
    assert builder.builder_config.source == 'physionet'
    generators = builder._split_generators(FakeDownloadManager())
    meta = builder.info.metadata
    assert meta['num_present'] == 20 and meta['num_missing'] == NUM_LABELLED - 20
    labels = cinc2017.read_reference(v3)
    assert sum(sum(meta['counts'][s].values()) for s in data.SPLITS) == 20
    key, example = next(iter(generators['train']))  # the first window of a record
    assert key == f'{example["record"]}-000' and example['signal'].shape == (9000, 1)
    assert example['label'] == labels[example['record']]


def test_urls():
    assert cinc2017.URLS == {
        'records': 'https://physionet.org/files/challenge-2017/1.0.0/training2017.zip',
        'reference': 'https://physionet.org/files/challenge-2017/1.0.0/REFERENCE-v3.csv',
    }


@pytest.mark.parametrize(
    'overrides, field',
    [
        (dict(validation_fraction=0.0), 'validation_fraction'),
        (dict(test_fraction=1.0), 'test_fraction'),
        (dict(validation_fraction=0.5, test_fraction=0.5), 'validation_fraction'),
        (dict(num_folds=1), 'num_folds'),
        (dict(num_folds=5, fold=5), 'fold'),
        (dict(fold=1), 'fold'),
        (dict(window_seconds=0.0), 'window_seconds'),
        (dict(crop='end'), 'crop'),
        (dict(windows='all'), 'windows'),
        (dict(record_norm='max'), 'record_norm'),
        (dict(bandpass='0.5,150'), 'bandpass'),
        (dict(bandpass='40,0.5'), 'bandpass'),
        (dict(bandpass_order=0), 'bandpass_order'),
        (dict(window_overlap=1.0), 'window_overlap'),
        (dict(sample_rate=20.0), 'sample_rate'),
        (dict(sample_rate=333.33), 'sample_rate'),
        (dict(split_seed=-1), 'split_seed'),
        (dict(reference='sub/REFERENCE.csv'), 'reference'),
    ],
)
def test_params_validation_names_the_field(overrides, field):
    cfg = make_config('', '', **overrides)
    with pytest.raises(ValueError, match=f'config.data.{field}'):
        check(cfg)


def test_config_name_encodes_data_parameters():
    base = cinc2017.config_name(cinc2017.DEFAULTS, 'physionet')
    changes = [
        dict(sample_rate=250.0),
        dict(window_seconds=10.0),
        dict(window_overlap=0.25),
        dict(windows='one'),
        dict(windows='one', crop='center'),
        dict(record_norm='zscore'),
        dict(bandpass='0.5,40'),
        dict(bandpass='0.5,40', bandpass_order=4),
        dict(split_seed=1),
        dict(validation_fraction=0.1),
        dict(test_fraction=0.2),
        dict(num_folds=5),
        dict(reference='REFERENCE-original.csv'),
    ]
    names = {cinc2017.config_name(dict(cinc2017.DEFAULTS, **c), 'physionet') for c in changes}
    assert base not in names and len(names) == len(changes)
    assert cinc2017.config_name(dict(cinc2017.DEFAULTS, manual_dir='/x'), 'physionet') == base
    # Covering windows are not cropped: crop does not change them.
    assert cinc2017.config_name(dict(cinc2017.DEFAULTS, crop='center'), 'physionet') == base
    assert cinc2017.config_name(cinc2017.DEFAULTS, 'manual-abc') != base
    check(make_config('', '', num_folds=5, fold=4, crop='center'))
