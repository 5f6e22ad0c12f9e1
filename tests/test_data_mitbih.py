"""Tests for the MIT-BIH-format PhysioNet builder (ecgdepth.data.mitbih).

The real mitdb files (../shared/data/mitdb) are prepared once per session and reused; those
tests skip when the folder is absent. Error handling, resampling and the rhythm labelling
rules run the real builder on tiny WFDB databases written into tmp_path.
"""

import hashlib
import os
import shutil

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
import wfdb
from etils import epath

from ecgdepth import data
from ecgdepth.data import feature_norm, mitbih

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MITDB = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data', 'mitdb'))
HAVE_MITDB = all(os.path.isfile(os.path.join(MITDB, f'{r}.atr')) for r in ('100', '234'))

# de Chazal et al. (2004), Table I: AAMI beats of DS1 (train + validation) and DS2 (test).
PUBLISHED = {
    'DS1': {'N': 45866, 'S': 944, 'V': 3788, 'F': 415, 'Q': 8},
    'DS2': {'N': 44259, 'S': 1837, 'V': 3221, 'F': 388, 'Q': 7},
}
DS1 = set('101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220'.split())
DS1 |= {'223', '230'}
DS2 = set('100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232'.split())
DS2 |= {'233', '234'}
AAMI = {**dict.fromkeys('NLRej', 'N'), **dict.fromkeys('AaJS', 'S'), 'V': 'V', 'E': 'V'}
AAMI.update({'F': 'F', '/': 'Q', 'f': 'Q', 'Q': 'Q'})


def make_config(data_dir, **overrides):
    cfg = dict(name='mitbih', data_dir=str(data_dir), **mitbih.DEFAULTS)
    cfg.update(overrides)
    return ml_collections.ConfigDict(cfg)


def check(data_config):
    """The dataset's config check, through the registry (it reads config.data only)."""
    data.dataset('mitbih').check(ml_collections.ConfigDict({'data': data_config}), 'classification')


# ------------------------------------------------------------------------------ real mitdb


@pytest.fixture(scope='module')
def mitdb_tfds(data_dir):
    """The session's TFDS dir: the real beats are prepared once for this module and the
    end-to-end launches on mitbih (tests/test_real_data_e2e.py) alike."""
    if not HAVE_MITDB:
        pytest.skip(f'MIT-BIH files not found in {MITDB}')
    return data_dir


@pytest.fixture(scope='module')
def beats(mitdb_tfds):
    """mitdb beats with every default, prepared once through the registry; side features as
    stored (feature_norm='none': the z-scoring is checked on them below)."""
    return data.load(make_config(mitdb_tfds, manual_dir=MITDB, feature_norm='none'))


def test_beat_counts_equal_published_less_edge_drops(beats):
    # Beats whose +-0.7 s window runs off the record, counted independently of the builder.
    half = round(0.7 * 360)
    dropped = {ds: dict.fromkeys('NSVFQ', 0) for ds in PUBLISHED}
    for ds, records in (('DS1', DS1), ('DS2', DS2)):
        for record in records:
            ann = wfdb.rdann(os.path.join(MITDB, record), 'atr')
            for sample, symbol in zip(ann.sample, ann.symbol, strict=True):
                if symbol in AAMI and (sample < half or sample + half > 650000):
                    dropped[ds][AAMI[symbol]] += 1
    names = beats.class_names
    assert names == ('N', 'S', 'V', 'F', 'Q')
    count = {s: np.bincount(beats.splits[s]['y'], minlength=5) for s in data.SPLITS}
    stored = {'DS1': count['train'] + count['validation'], 'DS2': count['test']}
    for ds in PUBLISHED:
        expected = [PUBLISHED[ds][c] - dropped[ds][c] for c in names]
        assert stored[ds].tolist() == expected, ds
        assert sum(dropped[ds].values()) <= 2 * len(DS1)  # only the first/last beats
        # The info reports the same drops.
        splits = ('train', 'validation') if ds == 'DS1' else ('test',)
        info_dropped = [
            sum(beats.info['splits'][s]['dropped_edge'][c] for s in splits) for c in names
        ]
        assert info_dropped == [dropped[ds][c] for c in names]
        assert beats.info['published'][ds]['match']
    for split in data.SPLITS:
        assert [beats.info['splits'][split]['counts'][c] for c in names] == count[split].tolist()
        assert not any(beats.info['splits'][split]['skipped_unmapped'].values())
    # Real mitdb as it is: nothing outside the signal, no record without MLII; the beats off
    # the record are listed per record, the same total.
    dropped_info = beats.info['dropped']
    assert dropped_info['records_without_lead'] == []
    assert dropped_info['annotations_outside_signal'] == {}
    total = sum(sum(d.values()) for d in dropped.values())
    assert sum(dropped_info['beats_off_record'].values()) == total


def test_splits_are_inter_patient_and_disjoint(beats, mitdb_tfds):
    records = {s: set(r) for s, r in beats.info['records'].items()}
    assert records['validation'] == set(mitbih.DEFAULT_VALIDATION)
    assert records['train'] | records['validation'] == DS1
    assert records['test'] == DS2
    assert not records['train'] & records['validation']
    assert not (records['train'] | records['validation']) & records['test']
    assert not set().union(*records.values()) & {'102', '104', '107', '217'}
    # The stored examples carry their record: check a sample of each split.
    builder = mitbih.load_builder(
        mitbih.params_from_config(make_config('', manual_dir=MITDB)), mitdb_tfds
    )
    rng = np.random.default_rng(0)
    for split in data.SPLITS:
        source = builder.as_data_source(split)
        idx = np.unique(np.r_[0, len(source) - 1, rng.integers(0, len(source), 300)])
        stored = {r['record'].decode() for r in source.__getitems__(idx.tolist())}
        assert stored <= records[split], split
    # Provenance lives in the TFDS DatasetInfo too, read back from disk.
    assert builder.info.redistribution_info.license.startswith('Open Data Commons Attribution')
    assert 'Moody' in builder.info.citation and 'Goldberger' in builder.info.citation
    assert builder.info.homepage == 'https://physionet.org/content/mitdb/1.0.0/'
    assert 'de Chazal' in builder.info.description
    assert builder.info.metadata['splits'] == beats.info['splits']
    validation = data.read_tfds_split(builder, 'validation')
    assert {r.decode() for r in validation['record']} == records['validation']
    assert set(np.unique(validation['symbol'].astype(str))) <= set(AAMI)


def test_shapes_dtypes_and_alignment(beats):
    assert beats.name == 'mitbih/beats' and beats.sample_rate == 360.0
    assert beats.input_shape == (504, 1)
    assert beats.feature_names == mitbih.FEATURE_NAMES and len(mitbih.FEATURE_NAMES) == 9
    for split in data.SPLITS:
        arrays = beats.splits[split]
        n = len(arrays['y'])
        assert arrays['x'].shape == (n, 504, 1) and arrays['x'].dtype == np.float32
        assert arrays['y'].shape == (n,) and arrays['y'].dtype == np.int32
        assert arrays['features'].shape == (n, 9) and arrays['features'].dtype == np.float32
        assert np.isfinite(arrays['x']).all()
    # The annotated R peak sits at sample round(0.7 * 360) = 252: deviation is largest there.
    x = beats.splits['validation']['x'][:, :, 0]
    deviation = np.abs(x - np.median(x, 1, keepdims=True)).mean(0)
    assert abs(int(np.argmax(deviation)) - 252) <= 3


def test_features_and_beat_reference_are_chosen_when_loading(beats, mitdb_tfds):
    """A feature subset and the record-relative channel, read from the same stored data."""
    chosen = 'rr_prev_local+rr_prev_long'
    cfg = make_config(
        mitdb_tfds,
        manual_dir=MITDB,
        feature_norm='none',
        features=chosen,
        beat_reference='record_median',
    )
    subset = data.load(cfg)
    assert subset.info['config'] == beats.info['config']  # no second preparation
    spec = data.input_spec(ml_collections.ConfigDict({'data': cfg}))
    assert subset.feature_names == ('rr_prev_local', 'rr_prev_long')
    assert (spec.num_features, spec.channels) == (2, 2)
    columns = [mitbih.FEATURE_NAMES.index(n) for n in subset.feature_names]
    for split in data.SPLITS:
        expected = beats.splits[split]['features'][:, columns]
        np.testing.assert_array_equal(subset.splits[split]['features'], expected)
    # Channel 0 as stored, channel 1 each beat minus its own record's median beat.
    x, relative = beats.splits['test']['x'], subset.splits['test']['x']
    np.testing.assert_array_equal(relative[..., :1], x)
    builder = mitbih.load_builder(mitbih.params_from_config(cfg), mitdb_tfds)
    rows = mitbih.read_split(builder, 'test')[1] == '100'
    assert rows.sum() > 2000
    expected = x[rows, :, 0] - np.median(x[rows, :, 0], axis=0)
    np.testing.assert_allclose(relative[rows, :, 1], expected, atol=1e-5)


def test_rr_features_show_prematurity(beats):
    for split in data.SPLITS:
        f, y = beats.splits[split]['features'], beats.splits[split]['y']
        assert np.isfinite(f).all() and (f > 0).all()
        assert np.median(f[:, 2]) == pytest.approx(0.8, abs=0.2)  # ~75 bpm
        ratio = f[:, 0] / f[:, 2]
        normal, supra = ratio[y == 0].mean(), ratio[y == 1].mean()
        assert supra < normal - 0.1, (split, supra, normal)
        assert f[y == 1, 0].mean() < f[y == 0, 0].mean()
        # The stored ratios are the intervals' ratios; the 5-minute mean is close to the
        # local one for most beats (a stable rhythm).
        names = list(mitbih.FEATURE_NAMES)
        np.testing.assert_allclose(f[:, names.index('rr_prev_local')], ratio, rtol=1e-5)
        np.testing.assert_allclose(f[:, names.index('rr_local_long')], f[:, 2] / f[:, 3], rtol=1e-5)
        assert np.median(np.abs(f[:, names.index('rr_local_long')] - 1)) < 0.1
        assert f[y == 1, names.index('rr_prev_long')].mean() < 0.9


def test_features_are_zscored_with_train_statistics(beats):
    normed = feature_norm.normalize(beats, 'zscore')
    stats = normed.info['feature_norm']
    train = beats.splits['train']['features'].astype(np.float64)
    np.testing.assert_allclose(stats['mean'], train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats['std'], train.std(0), rtol=1e-6)
    assert stats['names'] == list(mitbih.FEATURE_NAMES)
    z = normed.splits['train']['features']
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    test = (beats.splits['test']['features'] - np.array(stats['mean'])) / np.array(stats['std'])
    np.testing.assert_allclose(normed.splits['test']['features'], test, rtol=1e-4, atol=1e-5)


def test_rhythm_variant_and_straddle(mitdb_tfds):
    names = mitbih.RHYTHM_CLASSES
    ds = data.load(make_config(mitdb_tfds, manual_dir=MITDB, variant='rhythm'))
    assert ds.name == 'mitbih/rhythm' and ds.class_names == names
    assert ds.input_shape == (3600, 1) and ds.feature_names == ()
    for split in data.SPLITS:
        assert set(ds.splits[split]) == {'x', 'y'}
    count = {s: np.bincount(ds.splits[s]['y'], minlength=len(names)) for s in data.SPLITS}
    assert all(np.argmax(count[s]) == names.index('N') for s in data.SPLITS)
    assert count['test'][names.index('AFIB')] > 100  # 201-222 hold hours of AF
    assert count['train'][names.index('VFL')] > 0  # 207
    assert sum(count[s][names.index('P')] for s in data.SPLITS) == 0  # paced records excluded

    for split in data.SPLITS:  # straddle='majority': test_rhythm_windows_drop_vs_majority
        assert [ds.info['splits'][split]['counts'][c] for c in names] == count[split].tolist()


# ------------------------------------------------------------------------- WFDB fixtures


def write_record(
    root,
    name,
    symbols,
    fs=360.0,
    rr=0.8,
    seconds=12.0,
    leads=('MLII', 'V1'),
    rhythms=(('(N', 0.0),),
):
    """A record of Gaussian 'R waves' every `rr` s from 0.9 s, annotated with `symbols`."""
    n = round(seconds * fs)
    t = np.arange(n) / fs
    peaks = np.round((0.9 + rr * np.arange(len(symbols))) * fs).astype(int)
    assert peaks[-1] < n
    bumps = np.exp(-0.5 * ((np.arange(n)[:, None] - peaks) / (0.012 * fs)) ** 2).sum(1)
    signal = np.stack([bumps + 0.05 * np.sin(2 * np.pi * 0.3 * t), 0.2 * np.cos(t) - bumps], 1)
    wfdb.wrsamp(
        name,
        fs=fs,
        units=['mV'] * 2,
        sig_name=list(leads),
        p_signal=signal,
        fmt=['212'] * 2,
        write_dir=str(root),
    )
    marks = [(round(sec * fs), '+', note) for note, sec in rhythms]
    marks += [(int(p), s, '') for p, s in zip(peaks, symbols, strict=True)]
    marks.sort(key=lambda m: m[0])
    samples, syms, aux = zip(*marks, strict=True)
    wfdb.wrann(name, 'atr', np.array(samples), list(syms), aux_note=list(aux), write_dir=str(root))
    return peaks


def fixture_params(root, **overrides):
    params = dict(database='fakedb', manual_dir=str(root), split='records')
    params.update(overrides)
    return mitbih.validate_params(params)


def prepare(tmp_path, **overrides):
    """Prepares a fixture database in tmp_path/db (all records in train) and returns info."""
    params = fixture_params(tmp_path / 'db', split_fractions='1,0,0', **overrides)
    return mitbih.load_builder(params, str(tmp_path / 'tfds')).info.metadata


@pytest.fixture
def db(tmp_path):
    (tmp_path / 'db').mkdir()
    return tmp_path / 'db'


@pytest.mark.parametrize(
    'fs,sample_rate,lead',
    [(360.0, 250.0, 'MLII'), (128.0, 360.0, 'ECG1'), (257.0, 360.0, 'II'), (360.0, 360.0, 'V1')],
)
def test_fixture_end_to_end_with_resampling(tmp_path, db, fs, sample_rate, lead):
    leads = (lead, 'V1') if lead != 'V1' else ('MLII', 'V1')
    for record in ('100', '101', '102'):
        write_record(db, record, 'NNANNVNNFN', fs=fs, leads=leads)
    cfg = make_config(
        tmp_path / 'tfds',
        manual_dir=str(db),
        database='fakedb',
        split='records',
        split_fractions='0.34,0.33,0.33',
        sample_rate=sample_rate,
        lead=lead,
        feature_norm='none',
    )
    ds = data.load(cfg)
    half = round(0.7 * sample_rate)
    assert ds.input_shape == (2 * half, 1) and ds.sample_rate == sample_rate
    assert sorted(r for s in data.SPLITS for r in ds.info['records'][s]) == ['100', '101', '102']
    for split in data.SPLITS:
        x, y, f = (ds.splits[split][k] for k in ('x', 'y', 'features'))
        # The first beat (0.9 s) keeps its window; labels follow the annotation symbols.
        assert [ds.class_names[i] for i in y] == list('NNSNNVNNFN')
        peak = np.argmax(x[:, :, 0] * (1 if lead != 'V1' else -1), 1)
        assert np.all(np.abs(peak - half) <= 1)  # annotations resampled with the signal
        # Regular 0.8 s RR, edges too; the ratios are 1.
        np.testing.assert_allclose(f[:, :4], 0.8, atol=1.5 / fs)
        np.testing.assert_allclose(f[:, 4:], 1.0, atol=4 / fs)


def test_rr_edges_and_unmapped_beats_skipped(tmp_path, db):
    peaks = write_record(db, '100', 'NNBNNrNN', rr=0.6, seconds=6.5)
    info = prepare(tmp_path)
    assert info['splits']['train']['skipped_unmapped'] == {'B': 1, 'r': 1}
    assert info['splits']['train']['counts'] == {'N': 6, 'S': 0, 'V': 0, 'F': 0, 'Q': 0}
    builder = mitbih.load_builder(
        fixture_params(db, split_fractions='1,0,0'), str(tmp_path / 'tfds')
    )
    rows = data.read_tfds_split(builder, 'train')
    assert rows['symbol'].astype(str).tolist() == ['N'] * 6
    assert rows['sample'].tolist() == [int(p) for i, p in enumerate(peaks) if i not in (2, 5)]
    # Skipped beats still count as RR neighbours: every interval stays 0.6 s, every ratio 1.
    np.testing.assert_allclose(rows['rr'][:, :4], 0.6, atol=1 / 360)
    np.testing.assert_allclose(rows['rr'][:, 4:], 1.0, atol=1e-2)


def test_unmapped_beat_raises_when_configured(tmp_path, db):
    write_record(db, '100', 'NNNBN')
    with pytest.raises(mitbih.UnknownSymbolError, match=r"record 100: beat symbol 'B'"):
        prepare(tmp_path, unknown_symbols='error')


def test_truncated_dat(tmp_path, db):
    write_record(db, '100', 'NNNN')
    path = db / '100.dat'
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(mitbih.WfdbFileError, match=r'100\.dat: truncated'):
        prepare(tmp_path)


@pytest.mark.parametrize('delta,match', [(-500, 'longer than the header'), (500, 'truncated')])
def test_header_length_disagrees_with_data(tmp_path, db, delta, match):
    write_record(db, '100', 'NNNN')
    hea = db / '100.hea'
    lines = hea.read_text().splitlines()
    name, n_sig, fs, length = lines[0].split()[:4]
    lines[0] = f'{name} {n_sig} {fs} {int(length) + delta}'
    hea.write_text('\n'.join(lines) + '\n')
    with pytest.raises(mitbih.WfdbFileError, match=rf'100\.dat: .*{match}.*100\.hea'):
        prepare(tmp_path)


def test_missing_atr(tmp_path, db):
    write_record(db, '100', 'NNNN')
    write_record(db, '101', 'NNNN')
    (db / '101.atr').unlink()
    with pytest.raises(mitbih.WfdbFileError, match=r'101\.atr: missing annotation file'):
        prepare(tmp_path)


def test_missing_lead_skips_unless_strict(tmp_path, db):
    write_record(db, '100', 'NNNN')
    write_record(db, '101', 'NNNN', leads=('V5', 'V2'))
    for refusing in (dict(strict=True), dict(missing_lead='error')):
        with pytest.raises(mitbih.MissingLeadError, match=r"record 101 .*no lead 'MLII'"):
            prepare(tmp_path, **refusing)
    for skipping in (dict(), dict(strict=True, missing_lead='skip')):
        info = prepare(tmp_path, **skipping)
        assert info['skipped_records'] == ['101']
        assert info['dropped']['records_without_lead'] == ['101']
        assert info['splits']['train']['counts']['N'] == 4


def test_annotations_outside_the_signal_are_dropped_unless_strict(tmp_path, db):
    peaks = write_record(db, '100', 'NNNNN', seconds=5.0)
    n = round(5.0 * 360)
    # Real files hold such marks: a beat annotated at (and past) the record's end.
    samples = np.array([*peaks, n, n + 40])
    wfdb.wrann('100', 'atr', samples, list('NNNNNNV'), write_dir=str(db))
    with pytest.raises(mitbih.WfdbFileError, match=r'record 100; config\.data\.strict'):
        prepare(tmp_path, strict=True)
    info = prepare(tmp_path)
    assert info['dropped']['annotations_outside_signal'] == {'100': 2}
    assert info['splits']['train']['counts'] == {'N': 5, 'S': 0, 'V': 0, 'F': 0, 'Q': 0}
    assert info['dropped']['beats_off_record'] == {}


def test_beats_off_the_record_are_dropped_and_named(tmp_path, db):
    write_record(db, '100', 'NNNN', seconds=4.0)  # beats at 0.9 .. 3.3 s
    write_record(db, '101', 'NNNN', seconds=4.0)
    for strict in (False, True):  # not a refusal in either mode
        info = prepare(tmp_path, beat_before=1.0, strict=strict)
        assert info['dropped']['beats_off_record'] == {'100': 1, '101': 1}
        assert info['splits']['train']['dropped_edge']['N'] == 2
        assert info['splits']['train']['counts']['N'] == 6


def test_bandpass_above_nyquist_names_the_field_and_record(tmp_path, db):
    write_record(db, '100', 'NNNN', fs=128.0)
    with pytest.raises(ValueError, match=r"config\.data\.bandpass='0\.5,70'.*64 Hz of record 100"):
        prepare(tmp_path, bandpass='0.5,70')


def test_record_conditioning_is_applied_before_windowing(tmp_path, db):
    from ecgdepth.data import preprocess

    write_record(db, '100', 'NNNNNNNNNNNN')
    params = fixture_params(
        db, split_fractions='1,0,0', bandpass='0.5, 40', record_norm='median_mad'
    )
    assert params['bandpass'] == '0.5,40'  # canonical: one cache key per band
    builder = mitbih.load_builder(params, str(tmp_path / 'tfds'))
    assert 'band-pass' in builder.info.description and 'median_mad' in builder.info.description
    rows = data.read_tfds_split(builder, 'train')
    lead = wfdb.rdrecord(str(db / '100'), channels=[0]).p_signal[:, 0]
    expected = preprocess.condition(lead, 360.0, 'median_mad', (0.5, 40.0), 2)
    half = round(0.7 * 360)
    for signal, sample in zip(rows['signal'], rows['sample'], strict=True):
        window = expected[sample - half : sample + half]
        np.testing.assert_allclose(signal[:, 0], window, rtol=1e-5, atol=1e-5)
    raw = prepare(tmp_path)  # the default stores mV as read: another config, other windows
    assert raw['config'] != builder.info.metadata['config']


def test_rhythm_windows_drop_vs_majority(tmp_path, db):
    # 35 s: N until 5.5 s, AFIB until 26 s, then N -> windows [0,10) [10,20) [20,30).
    rhythms = (('(N', 0.0), ('(AFIB', 5.5), ('(N', 26.0))
    write_record(db, '100', 'N' * 40, seconds=35.0, rhythms=rhythms)
    drop = prepare(tmp_path, variant='rhythm')['splits']['train']
    majority = prepare(tmp_path, variant='rhythm', straddle='majority')['splits']['train']
    assert {c: n for c, n in drop['counts'].items() if n} == {'AFIB': 1}
    assert drop['dropped'] == {'straddle': 2, 'unlabelled': 0}
    assert {c: n for c, n in majority['counts'].items() if n} == {'N': 1, 'AFIB': 2}
    # Unknown rhythm labels: windows touching them are unlabelled, or an error.
    write_record(db, '101', 'N' * 40, seconds=35.0, rhythms=(('(N', 0.0), ('(XYZ', 12.0)))
    (tmp_path / 'tfds').rename(tmp_path / 'old')
    both = prepare(tmp_path, variant='rhythm')['splits']['train']
    assert both['unknown_rhythms'] == {'XYZ': 1}
    assert both['counts']['N'] == 1 and both['dropped']['unlabelled'] == 2
    with pytest.raises(mitbih.UnknownSymbolError, match=r"record 101: rhythm '\(XYZ'"):
        prepare(tmp_path, variant='rhythm', unknown_symbols='error')


def test_empty_split_and_missing_manual_dir_are_clear(tmp_path, db):
    write_record(db, '100', 'NNNN')
    cfg = make_config(
        tmp_path / 'tfds',
        manual_dir=str(db),
        database='fakedb',
        split='records',
        split_fractions='1,0,0',
    )
    with pytest.raises(ValueError, match=r'no examples in split.*config\.data\.split_fractions'):
        data.load(cfg)
    cfg.manual_dir = str(tmp_path / 'nowhere')
    cfg.sample_rate = 250.0  # a config not prepared yet
    with pytest.raises(ValueError, match=r'config\.data\.manual_dir'):
        data.load(cfg)


# ------------------------------------------------------------------- parameters, registry


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(validation_records='101,100'), r"validation_records: record '100' .*DS2"),
        (dict(validation_records='102'), r"validation_records: record '102' .*paced"),
        (dict(validation_records=''), r'validation_records'),
        (dict(variant='qrs'), r'config\.data\.variant'),
        (dict(unknown_symbols='ignore'), r'config\.data\.unknown_symbols'),
        (dict(straddle='vote'), r'config\.data\.straddle'),
        (dict(database='svdb'), r"config\.data\.split='de_chazal'"),
        (dict(sample_rate=10.0), r'config\.data\.sample_rate'),
        (dict(beat_before=-1.0), r'config\.data\.beat_before'),
        (dict(split='records', split_fractions='0.5,0.5'), r'config\.data\.split_fractions'),
        (dict(unmapped_beats='B,N'), r'config\.data\.unmapped_beats'),
        (dict(bandpass='40,0.5'), r"config\.data\.bandpass must be '' \(off\) or 'low,high'"),
        (dict(bandpass='high'), r'config\.data\.bandpass'),
        (dict(bandpass_order=0), r'config\.data\.bandpass_order'),
        (dict(record_norm='minmax'), r'config\.data\.record_norm'),
        (dict(rr_long_seconds=1.0), r'config\.data\.rr_long_seconds'),
        (dict(missing_lead='ignore'), r'config\.data\.missing_lead'),
        (dict(features='rr_prev+rr_pre'), r"config\.data\.features: \['rr_pre'\] are not RR"),
        (dict(beat_reference='mean'), r'config\.data\.beat_reference'),
        (dict(beat_reference='record_median', variant='rhythm'), r"variant='beats'"),
    ],
)
def test_bad_parameters_name_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        check(make_config('', **overrides))


def test_registry_and_config_names():
    assert 'mitbih' in data.DATASETS and data.dataset('mitbih') is mitbih
    check(make_config(''))  # defaults are valid
    name = mitbih.config_name
    base = dict(mitbih.DEFAULTS)
    assert name(base) == name({**base, 'manual_dir': '/elsewhere'})  # location is not data
    # Each variant's defaults are the configs tfds.builder('mitbih/beats') names. Their data
    # are pinned here: a changed default fails this, and must bump MitBih.VERSION (the stored
    # 'beats' would otherwise be reused as the new defaults' data).
    assert (name(base), name({**base, 'variant': 'rhythm'})) == ('beats', 'rhythm')
    assert [mitbih._default_name(v) for v in mitbih.VARIANTS] == [
        'beats-mitdb-MLII-fs360-b0.7-a0.7-dechazal-val101.124.201.223-skip-c77e5d80',
        'rhythm-mitdb-MLII-fs360-w10-drop-dechazal-val101.124.201.223-skip-3cb97672',
    ]
    assert str(mitbih.MitBih.VERSION) == '1.1.0'
    assert [c.name for c in mitbih.MitBih.BUILDER_CONFIGS] == ['beats', 'rhythm']
    assert name(base) == name({**base, 'validation_records': '223, 201,124,101'})
    # '+' separates too: the command-line config spec splits on commas.
    params = mitbih.params_from_config(make_config('', validation_records='223+101+118'))
    assert params['validation_records'] == '101,118,223'
    for change in (
        dict(sample_rate=250.0),
        dict(beat_before=0.5),
        dict(lead='V1'),
        dict(validation_records='101,118'),
        dict(unknown_symbols='error'),
        dict(unmapped_beats='B'),
        dict(strict=True),
        dict(rr_long_seconds=60.0),
        dict(record_norm='zscore'),
        dict(bandpass='0.5,40'),
    ):
        assert name({**base, **change}) != name(base), change
    # 'auto' is what it resolves to; the filter order matters only with a filter.
    assert name({**base, 'missing_lead': 'skip'}) == name(base)
    assert name({**base, 'strict': True, 'missing_lead': 'error'}) == name({**base, 'strict': True})
    assert name({**base, 'bandpass_order': 4}) == name(base)
    band = {**base, 'bandpass': '0.5,40'}
    assert name({**band, 'bandpass_order': 4}) != name(band)
    assert name({**band, 'bandpass': '0.50;40.0'}) == name(band)
    rhythm = {**base, 'variant': 'rhythm'}
    assert name({**rhythm, 'beat_before': 0.3}) == name(rhythm)  # unused by rhythm windows
    assert name({**rhythm, 'straddle': 'majority'}) != name(rhythm)


def test_download_path_fetches_physionet_files(tmp_path, db, monkeypatch):
    """Without manual_dir the builder fetches RECORDS and the record files from physionet.org
    (served here from a fixture folder under TFDS-style hashed names)."""
    for record in ('100', '101', '102'):
        write_record(db, record, 'NNVN')
    (db / 'RECORDS').write_text('100\n101\n102\n')
    base = 'https://physionet.org/files/fakedb/1.0.0/'
    requested = []

    def fetch(manager, url):
        requested.append(url)
        assert url.startswith(base)
        dst = epath.Path(manager.download_dir) / hashlib.sha1(url.encode()).hexdigest()
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(db / url[len(base) :], dst)
        return dst

    def download(manager, url_or_urls):
        if isinstance(url_or_urls, str):
            return fetch(manager, url_or_urls)
        return {key: fetch(manager, url) for key, url in url_or_urls.items()}

    monkeypatch.setattr(tfds.download.DownloadManager, 'download', download)
    cfg = make_config(
        tmp_path / 'tfds', database='fakedb', split='records', split_fractions='0.34,0.33,0.33'
    )
    ds = data.load(cfg)
    assert requested[0] == base + 'RECORDS'
    files = {f'{base}{r}.{ext}' for r in ('100', '101', '102') for ext in ('hea', 'dat', 'atr')}
    assert sorted(requested[1:]) == sorted(files)
    assert ds.info['read_from'].endswith('fakedb-1.0.0-wfdb')
    assert ds.info['source'] == base
    assert sum(len(ds.splits[s]['y']) for s in data.SPLITS) == 12
