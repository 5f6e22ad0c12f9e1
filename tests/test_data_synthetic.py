"""Tests for the synthetic ECG dataset and the data registry.

Small sizes keep them fast on 2 CPU cores; signal-level checks use noise=0 and a simple
R-peak detector so they test what a model would see, not just the generator's bookkeeping.
"""

import os
import subprocess
import sys
import textwrap

import ml_collections
import numpy as np
import pytest
from scipy import signal as sps

from ecgdepth import data
from ecgdepth.data import synthetic

SMALL = dict(num_train=60, num_validation=20, num_test=20, window=250, sample_rate=125.0)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_config(data_dir, **overrides):
    cfg = dict(name='synthetic', data_dir=str(data_dir), **synthetic.DEFAULTS)
    cfg.update(SMALL)
    cfg.update(overrides)
    return ml_collections.ConfigDict(cfg)


def detect_beats(x, fs):
    """R-peak sample indices and polarity (+1/-1) of one clean single-channel window.

    Peaks within 0.1 s of either edge are dropped: beats cut by the window are ambiguous.
    """
    b, a = sps.butter(2, [5.0, 25.0], btype='bandpass', fs=fs)
    energy = sps.filtfilt(b, a, x) ** 2
    peaks, _ = sps.find_peaks(energy, height=0.15 * energy.max(), distance=int(0.25 * fs))
    edge = int(0.1 * fs)
    peaks = peaks[(peaks >= edge) & (peaks < len(x) - edge)]
    b, a = sps.butter(2, 1.0, btype='highpass', fs=fs)
    hp = sps.filtfilt(b, a, x)
    half = int(0.05 * fs)
    polarity = []
    for p in peaks:
        seg = hp[max(p - half, 0) : p + half + 1]
        polarity.append(np.sign(seg[np.argmax(np.abs(seg))]))
    return peaks, np.array(polarity)


# ------------------------------------------------------------------ loading and the registry


@pytest.mark.parametrize('variant', ['rhythm', 'motif', 'recall'])
def test_shapes_dtypes_and_labels(tmp_path, variant):
    overrides = dict(variant=variant, motif_k=1)
    if variant in ('motif', 'recall'):
        overrides['window'] = 500  # the motif needs room for k+4 beats
    ds = data.load(make_config(tmp_path, **overrides))
    window = overrides.get('window', SMALL['window'])
    assert ds.name == f'synthetic/{variant}'
    assert ds.class_names == synthetic.CLASS_NAMES[variant]
    assert ds.num_classes == len(ds.class_names)
    assert ds.input_shape == (window, 1)
    assert ds.sample_rate == 125.0
    for split, n in [('train', 60), ('validation', 20), ('test', 20)]:
        x, y = ds.splits[split]['x'], ds.splits[split]['y']
        assert x.shape == (n, window, 1) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int32
        assert y.min() >= 0 and y.max() < ds.num_classes
    counts = np.bincount(ds.splits['train']['y'], minlength=ds.num_classes)
    assert counts.min() >= 60 // ds.num_classes  # balanced by construction


def test_loaded_arrays_equal_generator_output(tmp_path):
    cfg = make_config(tmp_path)
    ds = data.load(cfg)
    params = synthetic.params_from_config(cfg)
    for split in data.SPLITS:
        x, y, _ = synthetic.generate(params, split)
        np.testing.assert_array_equal(ds.splits[split]['x'], x)
        np.testing.assert_array_equal(ds.splits[split]['y'], y)


def test_determinism_and_seed_and_split_independence(tmp_path):
    a = data.load(make_config(tmp_path / 'a'))
    b = data.load(make_config(tmp_path / 'b'))
    for split in data.SPLITS:
        np.testing.assert_array_equal(a.splits[split]['x'], b.splits[split]['x'])
        np.testing.assert_array_equal(a.splits[split]['y'], b.splits[split]['y'])
    c = data.load(make_config(tmp_path / 'a', seed=1))
    assert not np.array_equal(a.splits['train']['x'], c.splits['train']['x'])
    heads = [a.splits[s]['x'][:20] for s in data.SPLITS]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(heads[i], heads[j])


def test_unknown_dataset_name_raises(tmp_path):
    with pytest.raises(ValueError, match='nope'):
        data.load(make_config(tmp_path, name='nope'))
    assert set(data.DATASETS) >= {'synthetic'}


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.resolve_data_dir('') == str(tmp_path)
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert data.resolve_data_dir('') == os.path.expanduser('~/tensorflow_datasets')
    assert data.resolve_data_dir(str(tmp_path / 'x')) == str(tmp_path / 'x')


def test_prepared_dataset_is_reused(tmp_path, monkeypatch):
    cfg = make_config(tmp_path)
    first = data.load(cfg)
    version_dir = next((tmp_path / 'synthetic_ecg').glob('rhythm-*/*'))
    mtime = version_dir.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError('generator called for a prepared dataset')

    monkeypatch.setattr(synthetic, 'generate', fail)
    second = data.load(cfg)
    assert version_dir.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(first.splits['test']['x'], second.splits['test']['x'])


def test_concurrent_builds_do_not_corrupt(tmp_path):
    script = textwrap.dedent(
        f"""
        import ml_collections, numpy as np
        from ecgdepth import data
        cfg = ml_collections.ConfigDict(dict(name='synthetic', data_dir={str(tmp_path)!r},
                                             **{SMALL!r}))
        print(float(np.abs(data.load(cfg).splits['train']['x']).sum()))
        """
    )
    env = {**os.environ, 'PYTHONPATH': REPO + os.pathsep + os.environ.get('PYTHONPATH', '')}
    procs = [
        subprocess.Popen(
            [sys.executable, '-c', script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    assert outs[0][0].split()[-1] == outs[1][0].split()[-1]
    entries = sorted(os.listdir(tmp_path / 'synthetic_ecg'))
    assert not [e for e in entries if 'incomplete' in e]
    assert len(list((tmp_path / 'synthetic_ecg').glob('rhythm-*/*/dataset_info.json'))) == 1


# ------------------------------------------------------------------ configs


def test_config_name_encodes_data_parameters():
    base = synthetic.config_name(synthetic.DEFAULTS)
    assert base == 'rhythm-n4000-1000-1000-w1000-fs125.0-s0-noise0.05'
    changed = [
        dict(seed=1),
        dict(num_train=10),
        dict(num_validation=10),
        dict(num_test=10),
        dict(window=500),
        dict(sample_rate=250.0),
        dict(noise=0.1),
        dict(variant='motif'),
    ]
    names = {synthetic.config_name({**synthetic.DEFAULTS, **c}) for c in changed}
    assert len(names) == len(changed) and base not in names
    # motif_k changes motif data only.
    assert synthetic.config_name(dict(motif_k=3)) == base
    motif = dict(variant='motif')
    assert synthetic.config_name({**motif, 'motif_k': 3}) != synthetic.config_name(motif)


@pytest.mark.parametrize(
    'bad',
    [
        dict(variant='x'),
        dict(motif_k=0),
        dict(noise=-1.0),
        dict(window=100),
        dict(variant='motif', motif_k=20),
        dict(bogus=1),
    ],
)
def test_invalid_parameters_raise(bad):
    with pytest.raises(ValueError):
        synthetic.validate_params(bad)


def test_motif_minimum_window_is_exact():
    k, fs = 4, 125.0
    w = synthetic.motif_min_window(k, fs)
    x, y, _ = synthetic.generate(dict(variant='motif', motif_k=k, window=w), 'train', num=40)
    assert x.shape == (40, w, 1)
    with pytest.raises(ValueError, match=f'window >= {w}'):
        synthetic.validate_params(dict(variant='motif', motif_k=k, window=w - 1))


def test_recall_minimum_window_is_exact_and_its_span_is_recorded(tmp_path):
    k, fs = 4, 50.0
    w = synthetic.recall_min_window(k, fs)
    x, _, _ = synthetic.generate(
        dict(variant='recall', motif_k=k, window=w, sample_rate=fs), 'train'
    )
    assert x.shape[1] == w
    with pytest.raises(ValueError, match=f'window >= {w}'):
        synthetic.validate_params(dict(variant='recall', motif_k=k, window=w - 1, sample_rate=fs))
    ds = data.load(make_config(tmp_path, variant='recall', motif_k=1, window=500))
    assert ds.info['motif_span_samples'] == synthetic.recall_span_samples(1, 125.0)


# ------------------------------------------------------------------ signal content


@pytest.mark.parametrize('k', [1, 2, 3])
def test_motif_rule_holds_on_the_clean_signal(k):
    params = dict(variant='motif', motif_k=k, noise=0.0, window=750, seed=k)
    x, y, meta = synthetic.generate(params, 'train', num=60)
    fs = synthetic.DEFAULTS['sample_rate']
    assert 0.4 <= y.mean() <= 0.6
    for i in range(len(y)):
        _, polarity = detect_beats(x[i, :, 0], fs)
        inverted = np.flatnonzero(polarity < 0)
        # Exactly two inverted beats in every window, whatever the label: a single inverted
        # beat carries no information.
        assert len(inverted) == 2, (i, polarity)
        upright_between = int(inverted[1] - inverted[0] - 1)
        assert upright_between == meta['gap'][i]
        assert y[i] == int(upright_between == k)
        if y[i] == 0:
            assert upright_between in {k - 2, k - 1, k + 1, k + 2}


@pytest.mark.parametrize('k', [1, 2, 4])
def test_recall_rule_holds_on_the_clean_signal_and_its_span_bounds_the_lag(k):
    fs, window = 125.0, 750
    params = dict(variant='recall', motif_k=k, noise=0.0, window=window, sample_rate=fs, seed=k)
    x, y, meta = synthetic.generate(params, 'train', num=200)
    assert y.mean() == 0.5
    rows = np.arange(len(y))
    r_time = meta['r_time'][rows, meta['recalled']]
    lag = (window / fs - r_time) * fs  # Samples from the recalled R peak to the window's end.
    assert lag.max() <= synthetic.recall_span_samples(k, fs)
    # It grows with k: the last R at least 0.45 s before the end, then k RRs (>= 0.55 s) back.
    assert lag.min() >= (0.45 + 0.55 * k) * fs
    for i in range(len(y)):
        peaks, polarity = detect_beats(x[i, :, 0], fs)
        inverted = peaks[polarity < 0]
        if y[i] == 0:
            assert len(inverted) == 0, (i, polarity)
            continue
        # One inverted beat, at the recalled R peak, followed by exactly k upright ones up to
        # the last beat, the last whose R lies at least 0.45 s before the end.
        assert len(inverted) == 1 and abs(inverted[0] / fs - r_time[i]) < 2.5 / fs
        times = meta['r_time'][i]
        last = meta['recalled'][i] + k
        assert times[last] <= window / fs - 0.45 < times[last + 1]
        after = peaks[(peaks > inverted[0]) & (peaks <= times[last] * fs + 2.5)]
        assert len(after) == k, (i, peaks, inverted)


def test_rhythm_classes_have_intended_statistics():
    params = dict(variant='rhythm', noise=0.0, window=1000)
    x, y, meta = synthetic.generate(params, 'test', num=120)
    fs = synthetic.DEFAULTS['sample_rate']
    names = synthetic.CLASS_NAMES['rhythm']
    cv, hr = {n: [] for n in names}, {n: [] for n in names}
    for i in range(len(y)):
        peaks, polarity = detect_beats(x[i, :, 0], fs)
        assert (polarity > 0).all()
        rr = np.diff(peaks) / fs
        name = names[y[i]]
        hr[name].append(60.0 / rr.mean())
        cv[name].append(rr.std() / rr.mean())
        # Detected beats match the generator's R peaks inside the window.
        t = meta['r_time'][i][meta['valid'][i]]
        inside = t[(t > 0.1) & (t < 1000 / fs - 0.1)]
        assert abs(len(peaks) - len(inside)) <= 1
    assert np.median(cv['afib']) > 3 * np.median(cv['normal'])
    assert min(cv['afib']) > max(cv['normal'])
    assert all(55 < h < 105 for h in hr['normal'])
    assert all(h < 60 or h > 100 for h in hr['brady_tachy'])
    assert any(h < 60 for h in hr['brady_tachy']) and any(h > 100 for h in hr['brady_tachy'])
    # VPB windows: mostly normal beats with 1-2 premature ectopics inside the window, each
    # followed by a full compensatory pause; no other class has ectopics.
    duration = 1000 / fs
    for i in range(len(y)):
        kind, t = meta['kind'][i], meta['r_time'][i]
        ectopic = np.flatnonzero((kind == synthetic.ECTOPIC) & meta['valid'][i])
        if y[i] != 2:
            assert len(ectopic) == 0
            continue
        assert 1 <= len(ectopic) <= 2
        assert ((t[ectopic] > 0) & (t[ectopic] < duration)).all()
        normal_beats = ((kind == synthetic.NORMAL) & (t > 0) & (t < duration)).sum()
        assert normal_beats > len(ectopic)
        for j in ectopic:
            before, after = t[j] - t[j - 1], t[j + 1] - t[j]
            assert after > 1.3 * before  # premature, then a compensatory pause


@pytest.mark.parametrize('variant', ['rhythm', 'motif', 'recall'])
def test_signals_look_like_ecg(variant):
    params = dict(variant=variant, window=1000)
    x, y, _ = synthetic.generate(params, 'validation', num=80)
    assert np.isfinite(x).all()
    peak_to_peak = np.ptp(x[..., 0], axis=1)
    assert (peak_to_peak > 0.5).all() and (peak_to_peak < 6.0).all()
    assert np.abs(x).max() < 5.0
    # Most of the time the trace sits near the baseline; QRS complexes are brief spikes.
    centred = x[..., 0] - np.median(x[..., 0], axis=1, keepdims=True)
    assert np.median(np.abs(centred)) < 0.25 * peak_to_peak.mean()
