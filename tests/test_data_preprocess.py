"""Tests for the record conditioning (ecgdepth.data.preprocess), the RR features of a beat
(ecgdepth.data.mitbih.rr_features) and the side-feature standardisation with training
statistics (ecgdepth.data.feature_norm, config.data.feature_norm)."""

import dataclasses

import numpy as np
import pytest

from ecgdepth.data import base, feature_norm, mitbih, preprocess

# ------------------------------------------------------------------------ preprocess


def test_bandpass_removes_wander_and_keeps_peaks_in_place():
    fs = 360.0
    t = np.arange(round(20 * fs)) / fs
    peaks = np.arange(1.0, 19.0, 0.8)
    beats = np.exp(-0.5 * ((t[:, None] - peaks) / 0.012) ** 2).sum(1)
    x = beats + 2.0 * np.sin(2 * np.pi * 0.1 * t) + 0.5
    y = preprocess.bandpass(x, fs, (0.5, 40.0), 2)
    assert abs(np.mean(y)) < 0.01  # offset and 0.1 Hz wander gone
    found = [int(np.argmax(y[round((p - 0.2) * fs) : round((p + 0.2) * fs)])) for p in peaks]
    assert max(abs(f - round(0.2 * fs)) for f in found) <= 1  # zero phase: no shift
    low = preprocess.bandpass(x, fs, (0.0, 40.0), 2)  # low 0: a low-pass keeps the wander
    assert np.corrcoef(low - beats, x - beats)[0, 1] > 0.99


@pytest.mark.parametrize('method', ['zscore', 'median_mad'])
def test_record_norms_scale_by_the_record_and_never_divide_by_zero(method):
    rng = np.random.default_rng(0)
    x = 3.0 + 2.0 * rng.standard_normal(100_000)
    y = preprocess.normalize_record(x, method)
    assert abs(np.median(y)) < 0.02 and abs(np.std(y) - 1) < 0.02
    flat = preprocess.normalize_record(np.full(50, 4.0), method)
    assert np.all(flat == 0) and np.isfinite(flat).all()
    assert preprocess.normalize_record(x, 'none') is x


def test_median_mad_resists_artefacts():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_000)
    x[:200] = 500.0  # a saturated stretch
    assert np.std(preprocess.normalize_record(x, 'median_mad')[200:]) == pytest.approx(1, abs=0.1)
    assert np.std(preprocess.normalize_record(x, 'zscore')[200:]) < 0.2


def test_relative_to_group_median_reads_each_window_against_its_groups():
    rng = np.random.default_rng(0)
    typical = {'a': np.sin(np.linspace(0, 3, 16)), 'b': 5 * np.cos(np.linspace(0, 3, 16))}
    groups = np.array(['a', 'b', 'a', 'a', 'b', 'b', 'a'])
    x = np.stack([typical[g] + 0.01 * rng.normal(size=16) for g in groups])[..., None]
    x[3, 5:8, 0] += 2.0  # one ectopic-looking beat in record a
    out = preprocess.relative_to_group_median(x, groups)
    assert out.shape == (7, 16, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 0], x[..., 0], atol=1e-6)
    for g in 'ab':  # each group's own median is taken out, not the other's
        rows = groups == g
        np.testing.assert_allclose(
            out[rows, :, 1], x[rows, :, 0] - np.median(x[rows, :, 0], 0), atol=1e-5
        )
    typical_rows = np.abs(out[[0, 2, 6], :, 1]).max()
    assert typical_rows < 0.1 and out[3, 5:8, 1].min() > 1.5
    with pytest.raises(ValueError, match='7 windows but 6 group ids'):
        preprocess.relative_to_group_median(x, groups[:6])


def test_bandpass_text_and_nyquist():
    assert preprocess.parse_bandpass('') is None
    assert preprocess.parse_bandpass(' 0.5 ; 40 ') == (0.5, 40.0)
    assert preprocess.parse_bandpass('0.5+40') == (0.5, 40.0)
    assert preprocess.band_text(preprocess.parse_bandpass('0.50,40.0')) == '0.5,40'
    for bad in ('40,0.5', '0.5', '-1,40', 'a,b', '0.5,40,60', 'nan,4'):
        with pytest.raises(ValueError, match=r"^config\.data\.bandpass must be ''"):
            preprocess.parse_bandpass(bad)
    preprocess.check_band((0.5, 40.0), 128.0, 'record 100')
    with pytest.raises(ValueError, match=r'bandpass=.0\.5,64.*Nyquist frequency 64 Hz of rec 7'):
        preprocess.check_band((0.5, 64.0), 128.0, 'rec 7')


# ------------------------------------------------------------------------ rr features


def test_rr_features_name_every_column_and_show_a_premature_beat():
    times = np.cumsum([0.5] + [0.8] * 20 + [0.4, 1.2] + [0.8] * 20)  # beat 21 is premature
    f = mitbih.rr_features(times)
    assert f.shape == (len(times), len(mitbih.FEATURE_NAMES)) and f.dtype == np.float32
    col = {name: f[:, i] for i, name in enumerate(mitbih.FEATURE_NAMES)}
    early = 21
    assert col['rr_prev'][early] == pytest.approx(0.4)
    assert col['rr_next'][early] == pytest.approx(1.2)
    assert col['rr_prev_local'][early] == pytest.approx(0.4 / col['rr_local'][early])
    assert col['rr_prev_next'][early] == pytest.approx(1 / 3)
    assert col['rr_prev_long'][early] < 0.55
    # The whole record lies within 300 s: the long mean is the record's mean RR for all.
    mean_rr = (times[-1] - times[0]) / (len(times) - 1)
    np.testing.assert_allclose(col['rr_long'], mean_rr, rtol=1e-5)
    # Edges: the missing previous / next RR is the local mean.
    assert col['rr_prev'][0] == col['rr_local'][0] and col['rr_next'][-1] == col['rr_local'][-1]


def test_long_rr_is_centred_on_the_beat_and_truncated_at_edges():
    times = np.concatenate([np.arange(0, 300, 1.0), 300 + np.arange(0, 300, 0.5)])
    f = mitbih.rr_features(times, long_seconds=60.0)
    long = f[:, mitbih.FEATURE_NAMES.index('rr_long')]
    assert long[0] == pytest.approx(1.0) and long[-1] == pytest.approx(0.5)  # truncated
    assert long[np.searchsorted(times, 150)] == pytest.approx(1.0)
    assert long[np.searchsorted(times, 300)] == pytest.approx(60 / (30 + 60))  # half each
    # No other beat within the span: the local mean.
    lonely = mitbih.rr_features(np.array([0.0, 100.0, 200.0]), long_seconds=60.0)
    np.testing.assert_allclose(lonely[:, 3], lonely[:, 2])


def test_rr_features_of_degenerate_records():
    assert mitbih.rr_features(np.array([3.0])).tolist() == [[0.0] * len(mitbih.FEATURE_NAMES)]
    f = mitbih.rr_features(np.array([1.0, 1.0, 1.8, 2.6]))  # two beats at one sample
    assert np.isfinite(f).all()
    prev_next = mitbih.FEATURE_NAMES.index('rr_prev_next')
    assert f[0, prev_next] == 1.0  # next RR 0: a zero denominator gives 1
    assert f[1, prev_next] == 0.0  # 0 / 0.8


# ------------------------------------------------------------------------ feature_norm


def toy(features_by_split):
    splits = {
        split: {
            'x': np.zeros((len(f), 4, 1), np.float32),
            'y': np.zeros(len(f), np.int32),
            'features': np.asarray(f, np.float32),
        }
        for split, f in features_by_split.items()
    }
    return base.Dataset(splits, ('a', 'b'), 1.0, 'toy', feature_names=('u', 'c'))


def test_zscore_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = np.stack([rng.normal(5, 2, 400), np.full(400, 7.0)], 1)  # 'c' is constant
    other = {
        s: np.stack([rng.normal(0, 1, 50), rng.normal(0, 1, 50)], 1) for s in ('validation', 'test')
    }
    ds = toy({'train': train, **other})
    out = feature_norm.normalize(ds, 'zscore')
    stats = out.info['feature_norm']
    assert stats['method'] == 'zscore' and stats['names'] == ['u', 'c']
    np.testing.assert_allclose(stats['mean'], train.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats['std'], [train[:, 0].std(), 0.0], atol=1e-6)
    z = out.splits['train']['features']
    assert np.isfinite(z).all() and np.all(z[:, 1] == 0)  # zero std: centred, no NaN
    expected = (other['test'] - stats['mean']) / [stats['std'][0], 1.0]
    np.testing.assert_allclose(out.splits['test']['features'], expected, rtol=1e-5)
    # Changing validation/test features changes nothing of the statistics: no leak.
    changed = {s: 1000 + 50 * f for s, f in other.items()}
    again = feature_norm.normalize(toy({'train': train, **changed}), 'zscore')
    assert again.info['feature_norm'] == stats
    np.testing.assert_array_equal(again.splits['train']['features'], z)
    assert np.all(ds.splits['train']['features'] == train.astype(np.float32))  # input untouched


def test_none_and_featureless_datasets():
    ds = toy({s: np.ones((3, 2)) for s in ('train', 'validation', 'test')})
    out = feature_norm.normalize(ds, 'none')
    assert out.splits is ds.splits and out.info['feature_norm'] == {
        'method': 'none',
        'names': ['u', 'c'],
    }
    bare = dataclasses.replace(
        ds,
        splits={s: {k: v for k, v in a.items() if k != 'features'} for s, a in ds.splits.items()},
        feature_names=(),
    )
    assert feature_norm.normalize(bare, 'zscore') is bare
    with pytest.raises(ValueError, match=r'config\.data\.feature_norm must be one of'):
        feature_norm.normalize(ds, 'minmax')


def test_summary_keeps_the_statistics_and_the_drops():
    from ecgdepth.train import summary

    info = {
        'feature_norm': {'method': 'zscore', 'mean': [1.0], 'std': [2.0]},
        'dropped': {'records_without_lead': ['102']},
        'records': {'train': ['100']},
    }
    assert summary.dataset_info(info) == {k: info[k] for k in ('feature_norm', 'dropped')}


def test_feature_norm_is_a_common_field():
    assert base.COMMON_DEFAULTS['feature_norm'] == 'zscore'
    assert 'feature_norm' in base.COMMON_RULES
