"""Synthetic ECG generated deterministically from a seed: the generator behind the `synthetic`
dataset (its protocol: ecgdepth/data/synthetic.py; its TFDS builder: synthetic_tfds.py).

Why synthetic: it lets the depth ablations run anywhere (CI, laptops) without downloading
PhysioNet data, and the ``motif`` and ``recall`` variants have a known, tunable temporal span
so receptive field / depth effects can be isolated.

Beat model
----------
Each heartbeat is a sum of six Gaussians placed relative to its R-peak time (P, Q, R, S and
a two-Gaussian asymmetric T wave), in the spirit of McSharry et al.'s ECGSYN but rendered
directly in time. Amplitudes are in mV, centres and widths in seconds, so any
``sample_rate`` works. The QT interval follows Bazett (T-wave centre scales with
``sqrt(RR)``). Every example draws its own morphology (overall gain, R/S/T/P ratios,
widths) and every beat a small amplitude jitter plus respiratory R-amplitude modulation.
Sinus RR intervals carry respiratory sinus arrhythmia (0.15-0.35 Hz) and beat-to-beat
jitter. Every signal gets baseline wander (two sinusoids < 0.5 Hz, up to ~0.15 mV each)
and white Gaussian noise of std ``noise`` mV. Beats start before the window so windows
begin mid-rhythm.

Variants
--------
``rhythm`` (4 classes, exactly balanced):
  0 ``normal``      sinus rhythm, 62-98 bpm, P waves, regular RR (only RSA/jitter).
  1 ``afib``        irregularly irregular RR (i.i.d. log-normal, CV 12-25 %), 60-120 bpm,
                    no P waves, fibrillatory 4-9 Hz f-waves on the baseline.
  2 ``vpb``         sinus rhythm 60-95 bpm with one (60 %) or two (40 %) ventricular premature
                    beats inside the window: premature (coupling 0.55-0.70 RR), wide QRS,
                    no P, discordant T, full compensatory pause.
  3 ``brady_tachy`` sinus rhythm at 40-56 bpm or 104-150 bpm (half each).

``motif`` (2 classes, exactly balanced) -- the exact rule:
  Every window holds sinus beats of normal morphology, all upright except exactly TWO
  inverted beats (the whole P-QRS-T multiplied by -1), both entirely inside the window.
  Let g be the number of upright beats strictly between the two inverted beats.
  Label 1 (``motif``) iff g == motif_k, i.e. after an inverted beat, exactly k upright
  cycles are followed by an inverted one (pattern I U^k I). Label 0 (``no_motif``) iff
  g is in {k-2, k-1, k+1, k+2} (values < 0 dropped), drawn uniformly. Upright beats
  before the first / after the second inverted beat do not count.
  Both classes contain the same number of inverted beats with the same morphology and
  timing, so a single inverted beat (or any local feature) carries no label information;
  a model must see both inverted beats, i.e. k+2 beats / k+1 RR intervals. The heart-rate
  range is shared by both classes (lower bound raised if needed so that the widest
  negative gap, k+2, fits in the window); elapsed time between the inverted beats alone
  is ambiguous across that range, so the beats have to be counted.
  The window must hold the pattern: ``motif_min_window(k, sample_rate)`` samples at least
  (k=4 at 125 Hz: 528, i.e. >= 4.2 s; 748 keeps heart rates <= 100 bpm), else ValueError.

``recall`` (2 classes, exactly balanced) -- the receptive-field probe:
  sinus beats of normal morphology at 70-100 bpm. Let the last beat be the last one whose R
  peak lies at least 0.45 s before the window's end (its T wave is inside). Label 1
  (``inverted``) iff the beat ``motif_k`` beats before the last one is inverted (the whole
  P-QRS-T multiplied by -1), i.e. an inverted beat followed by k upright ones; label 0
  (``upright``): every beat is upright. A model that reads the window's last step sees the
  label only if it looks back to that beat: at most ``recall_span_samples(k, sample_rate)``
  samples (0.45 s + (k+1) of the longest RR), which grows linearly with k. That is what a
  causal CNN's receptive field must cover, and what one recurrent layer must remember.
  The window must hold k+1 beats plus margins: ``recall_min_window(k, sample_rate)``.

Sequence tasks (not ECG: benchmarks of memory and of multiplicative interactions)
--------------------------------------------------------------------------------
``adding`` (regression; Hochreiter & Schmidhuber 1997, as in Bai et al.'s TCN benchmarks):
  two channels. Channel 0 holds values drawn uniformly from [0, 1); channel 1 is a two-hot
  marker: 1 at one position drawn uniformly from the first half of the window
  (``t < window // 2``) and at one drawn from the second half, 0 elsewhere. The target is the
  sum of the two marked values (float32, computed from the stored float32 values). Always
  predicting the mean (1) scores an MSE of 1/6 = 0.167, the baseline a model must beat.
``product`` (2 classes, exactly balanced) -- the multiplicative task:
  two channels a and b of i.i.d. standard normal samples. With tau = ``product_lag``,
  the label is 1 (``positive``) iff S = sum_{t=tau}^{T-1} a_t * b_{t-tau} > 0 (S computed in
  float64 from the stored float32 values), else 0 (``negative``). Balance is exact: a is
  negated where S disagrees with the drawn label, which negates S and leaves the input
  distribution unchanged. Each input stream alone, and any sum of functions of single
  samples, carries no label information: only products of the two streams tau apart do.
  A multiplicative unit computes each term a_t * b_{t-tau} (a bilinear term such as the
  MI-MLP's exactly; a gate, (W x) * sigmoid(V x), up to a linear term a second gate cancels)
  and a mean readout sums them; an additive ReLU network must imitate each product with
  several units (xy = ((x+y)^2 - (x-y)^2) / 4, each square piecewise linear), i.e. with width
  or depth. ``noise`` and ``motif_k`` do not apply to these tasks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ecgdepth.data import base
from ecgdepth.data.base import SPLITS

VARIANTS = ('rhythm', 'motif', 'recall', 'adding', 'product')
CLASS_NAMES = {
    'rhythm': ('normal', 'afib', 'vpb', 'brady_tachy'),
    'motif': ('no_motif', 'motif'),
    'recall': ('upright', 'inverted'),
    'adding': (),  # Regression: a real-valued target, no classes.
    'product': ('negative', 'positive'),
}
CHANNELS = {'rhythm': 1, 'motif': 1, 'recall': 1, 'adding': 2, 'product': 2}
# The task each variant poses (config.task must match it).
TASKS = {
    'rhythm': 'classification',
    'motif': 'classification',
    'recall': 'classification',
    'adding': 'regression',
    'product': 'classification',
}
ECG_VARIANTS = ('rhythm', 'motif', 'recall')

# The data section's fields besides the common ones (base.COMMON_DEFAULTS): the generation
# parameters, with their defaults.
DEFAULTS: dict[str, Any] = {
    # 'rhythm', 'motif', 'recall' (ECG); 'adding' (regression), 'product' (multiplicative): see
    # the module docstring for each exact rule.
    'variant': 'rhythm',
    'seed': 0,  # Generation seed (the training seed is config.seed).
    'num_train': 4000,
    'num_validation': 1000,
    'num_test': 1000,
    'window': 1000,  # Samples per example.
    'sample_rate': 125.0,  # Hz.
    'motif_k': 4,  # motif: upright beats between two inverted; recall: after the inverted.
    'noise': 0.05,  # Additive noise std, mV.
    'product_lag': 4,  # product: label = sign of sum_t a_t * b_(t - product_lag).
}
# Beat kinds recorded in the metadata.
NORMAL, ECTOPIC, AF_BEAT = 0, 1, 2

# Waves: P, Q, R, S, T1 (broad, rising), T2 (narrow, falling edge) -> asymmetric T.
_SINUS_A = np.array([0.15, -0.12, 1.20, -0.25, 0.22, 0.12])
_SINUS_MU = np.array([-0.20, -0.035, 0.0, 0.035, 0.26, 0.31])
_SINUS_SIG = np.array([0.025, 0.010, 0.011, 0.011, 0.060, 0.035])
# Ventricular ectopic: no P/Q, wide tall R, deep wide S, discordant (negative) T.
_VPB_A = np.array([0.0, 0.0, 1.30, -0.55, -0.30, -0.12])
_VPB_MU = np.array([-0.20, -0.035, 0.0, 0.065, 0.30, 0.37])
_VPB_SIG = np.array([0.025, 0.010, 0.030, 0.030, 0.070, 0.040])
_T_WAVES = slice(4, 6)

_RR_MIN, _RR_MAX = 0.30, 1.60  # seconds; every generated RR is clipped to this range
_PRE = 1.0  # seconds of rhythm simulated before the window starts
_POST = 0.6  # ... and after it ends
# Waves rendered together and the span (s around the R peak) covering them to >= 4 sigma.
_SPANS = ((slice(0, 4), (-0.35, 0.25)), (slice(4, 6), (-0.1, 0.9)))
_MOTIF_MARGINS = (0.25, 0.45)  # inverted beats keep their P / T wave inside the window
_MOTIF_MAX_BPM = 150.0  # the motif's heart-rate lower bound may not exceed this
_RECALL_BPM = (70.0, 100.0)  # recall: a fixed heart-rate range, so its span grows with k
_RECALL_RR_SPREAD = 1.08  # sinus RR stays within this factor of 60 / bpm (5 % RSA + 3 % jitter)


def config_name(params: Mapping[str, Any]) -> str:
    """Cache-directory name encoding every parameter that changes the generated data."""
    p = {**DEFAULTS, **params}
    if p['variant'] not in ECG_VARIANTS:  # Sample rate and noise do not change these data.
        name = (
            f'{p["variant"]}-n{int(p["num_train"])}-{int(p["num_validation"])}'
            f'-{int(p["num_test"])}-w{int(p["window"])}-s{int(p["seed"])}'
        )
        return name + (f'-lag{int(p["product_lag"])}' if p['variant'] == 'product' else '')
    name = (
        f'{p["variant"]}-n{int(p["num_train"])}-{int(p["num_validation"])}-{int(p["num_test"])}'
        f'-w{int(p["window"])}-fs{float(p["sample_rate"])!r}-s{int(p["seed"])}'
        f'-noise{float(p["noise"])!r}'
    )
    if p['variant'] in ('motif', 'recall'):  # motif_k does not affect the rhythm variant
        name += f'-k{int(p["motif_k"])}'
    return name


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, coerce types and reject values that cannot produce a valid dataset."""
    p = base.coerce_params(params, DEFAULTS, 'synthetic ECG')
    if p['variant'] not in VARIANTS:
        raise ValueError(f'config.data.variant must be one of {VARIANTS}, got {p["variant"]!r}')
    if p['seed'] < 0:
        raise ValueError(f'config.data.seed must be >= 0, got {p["seed"]}')
    for key in ('num_train', 'num_validation', 'num_test'):
        if p[key] < 1:
            raise ValueError(f'config.data.{key} must be >= 1, got {p[key]}')
    if p['sample_rate'] < 50.0:
        raise ValueError(f'config.data.sample_rate must be >= 50 Hz, got {p["sample_rate"]}')
    if p['motif_k'] < 1:
        raise ValueError(f'config.data.motif_k must be >= 1, got {p["motif_k"]}')
    if p['noise'] < 0:
        raise ValueError(f'config.data.noise must be >= 0, got {p["noise"]}')
    if p['product_lag'] < 1:
        raise ValueError(f'config.data.product_lag must be >= 1, got {p["product_lag"]}')
    if p['variant'] == 'product' and p['product_lag'] >= p['window']:
        raise ValueError(
            f'config.data.product_lag ({p["product_lag"]}) must be smaller than '
            f'config.data.window ({p["window"]}): no pair of samples is that far apart.'
        )
    if p['variant'] == 'adding' and p['window'] < 2:
        raise ValueError(f'config.data.window must be >= 2 for adding, got {p["window"]}')
    duration = p['window'] / p['sample_rate']
    if p['variant'] == 'rhythm' and duration < 2.0:
        raise ValueError(
            'config.data.window: rhythm windows must last >= 2 s (window / sample_rate), '
            f'got {duration:g} s'
        )
    k, fs = p['motif_k'], p['sample_rate']
    if p['variant'] == 'motif':
        minimum = motif_min_window(k, fs)
        hint = (
            f'<= {_MOTIF_MAX_BPM:g} bpm: use window >= {minimum} '
            f'(>= {motif_min_window(k, fs, max_bpm=100.0)} for heart rates <= 100 bpm)'
        )
    elif p['variant'] == 'recall':
        minimum = recall_min_window(k, fs)
        hint = f'{_RECALL_BPM[0]:g} bpm: use window >= {minimum}'
    else:
        return p
    if p['window'] < minimum:
        raise ValueError(
            f'config.data.motif_k={k} needs more beats than config.data.window={p["window"]} '
            f'samples hold at {hint} at sample_rate={fs:g}, or a smaller motif_k.'
        )
    if p['variant'] == 'motif':
        _motif_hr_range(duration, k)
    return p


# --------------------------------------------------------------------------------------------
# Pure-numpy generator.
# --------------------------------------------------------------------------------------------


def split_rng(seed: int, split: str) -> np.random.Generator:
    """Independent, reproducible stream per (seed, split): splits are disjoint draws."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(SPLITS.index(split),))
    return np.random.Generator(np.random.PCG64(ss))


def generate(params: Mapping[str, Any], split: str, num: int | None = None):
    """Generates one split.

    Returns ``(x, y, meta)``: x float32 (N, window, 1) in mV, y int32 (N,), and meta, a dict of
    per-beat arrays (N, slots), padded where ``valid`` is False: ``r_time`` (s from window
    start, beats before/after the window included), ``kind`` (NORMAL/ECTOPIC/AF_BEAT),
    ``polarity`` (+1/-1), ``valid``; plus per-example ``heart_rate`` (bpm, nominal) and, for
    the motif variant, ``gap`` (upright beats between the two inverted ones); for recall,
    ``recalled`` (the index of the beat k before the last, inverted in label-1 windows).
    ``num`` overrides the split size (tests, plots); the data then differ from the stored split.
    The sequence tasks return x (N, window, 2), y float32 targets (adding) or int32 labels
    (product), and meta ``markers`` (adding: the two marked positions) or ``score`` (product: S).
    """
    p = validate_params(params)
    n = p[f'num_{split}'] if num is None else int(num)
    rng = split_rng(p['seed'], split)
    if p['variant'] == 'adding':
        return _adding(rng, n, p['window'])
    if p['variant'] == 'product':
        return _product(rng, n, p['window'], p['product_lag'])
    fs, window = p['sample_rate'], p['window']
    duration = window / fs
    num_classes = len(CLASS_NAMES[p['variant']])
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int32)

    beats = _empty_beats(n, duration)
    extra = np.zeros((n, window))
    if p['variant'] == 'rhythm':
        _rhythm_beats(rng, y, beats, duration)
        af = np.flatnonzero(y == 1)
        extra[af] = _f_waves(rng, len(af), window, fs)
    elif p['variant'] == 'recall':
        _recall_beats(rng, y, beats, duration, p['motif_k'])
    else:
        _motif_beats(rng, y, beats, duration, p['motif_k'])

    _assign_morphology(rng, beats)
    x = _render(beats, window, fs) + extra
    x += _baseline_wander(rng, n, window, fs)
    if p['noise'] > 0:
        x += p['noise'] * rng.standard_normal((n, window))
    keys = ('r_time', 'kind', 'polarity', 'valid', 'heart_rate', 'gap', 'recalled')
    meta = {k: beats[k] for k in keys if k in beats}
    return x.astype(np.float32)[..., None], y, meta


def _adding(rng, n: int, window: int):
    """The adding problem (module docstring); meta['markers'] holds the two marked positions."""
    values = rng.uniform(0.0, 1.0, (n, window)).astype(np.float32)
    half = window // 2
    markers = np.stack([rng.integers(0, half, n), rng.integers(half, window, n)], axis=1)
    x = np.zeros((n, window, 2), np.float32)
    x[..., 0] = values
    rows = np.arange(n)[:, None]
    x[rows, markers, 1] = 1.0
    y = values[rows, markers].sum(axis=1, dtype=np.float32)
    return x, y, {'markers': markers}


def product_score(x: np.ndarray, lag: int) -> np.ndarray:
    """S = sum_t a_t * b_{t-lag} of each example of x (N, T, 2), in float64: the label rule."""
    a, b = x[..., 0].astype(np.float64), x[..., 1].astype(np.float64)
    return (a[:, lag:] * b[:, :-lag]).sum(axis=1)


def _product(rng, n: int, window: int, lag: int):
    """The multiplicative task (module docstring); meta['score'] holds S."""
    y = rng.permutation(np.arange(n) % 2).astype(np.int32)
    x = rng.standard_normal((n, window, 2)).astype(np.float32)
    score = product_score(x, lag)
    flip = (score > 0) != (y == 1)
    x[flip, :, 0] *= -1.0  # Exact in float32, so S is exactly negated.
    score[flip] *= -1.0
    y = (score > 0).astype(np.int32)  # S == 0 (probability 0) would be labelled 0.
    return x, y, {'score': score}


def _empty_beats(n: int, duration: float) -> dict[str, np.ndarray]:
    slots = math.ceil((_PRE + _RR_MAX + duration + _POST) / _RR_MIN) + 1
    return {
        'r_time': np.zeros((n, slots)),
        'kind': np.zeros((n, slots), np.int8),
        'polarity': np.ones((n, slots), np.int8),
        'valid': np.zeros((n, slots), bool),
        'heart_rate': np.zeros(n),
    }


def _times_from_rr(rng, rr: np.ndarray, duration: float):
    """R-peak times (first beat up to one RR before -_PRE, random phase) and validity mask."""
    rr = np.clip(rr, _RR_MIN, _RR_MAX)
    start = -_PRE - rng.uniform(0.0, 1.0, len(rr)) * rr[:, 0]
    t = start[:, None] + np.concatenate([np.zeros((len(rr), 1)), np.cumsum(rr[:, :-1], 1)], 1)
    if not np.all(t[:, -1] >= duration + _POST):
        raise RuntimeError('not enough beat slots')
    return t, t < duration + _POST


def _sinus_rr(rng, hr: np.ndarray, slots: int) -> np.ndarray:
    """Sinus RR series: respiratory sinus arrhythmia plus small clipped beat-to-beat jitter."""
    n = len(hr)
    rr0 = 60.0 / hr
    f_resp = rng.uniform(0.15, 0.35, n)
    depth = rng.uniform(0.01, 0.05, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    t_approx = np.arange(slots)[None] * rr0[:, None]
    jitter = 0.01 * np.clip(rng.standard_normal((n, slots)), -3, 3)
    resp = np.sin(2 * np.pi * f_resp[:, None] * t_approx + phase[:, None])
    return rr0[:, None] * (1 + depth[:, None] * resp + jitter)


def _set(beats, idx, t, valid, kind, hr):
    beats['r_time'][idx] = t
    beats['valid'][idx] = valid
    beats['kind'][idx] = kind
    beats['heart_rate'][idx] = hr


def _rhythm_beats(rng, y, beats, duration):
    slots = beats['r_time'].shape[1]

    idx = np.flatnonzero(y == 0)  # normal sinus rhythm
    hr = rng.uniform(62, 98, len(idx))
    t, valid = _times_from_rr(rng, _sinus_rr(rng, hr, slots), duration)
    _set(beats, idx, t, valid, NORMAL, hr)

    idx = np.flatnonzero(y == 1)  # atrial fibrillation: i.i.d. log-normal RR, no P waves
    hr = rng.uniform(60, 120, len(idx))
    cv = rng.uniform(0.12, 0.25, len(idx))[:, None]
    z = rng.standard_normal((len(idx), slots))
    rr = (60.0 / hr)[:, None] * np.exp(cv * z - cv**2 / 2)
    t, valid = _times_from_rr(rng, rr, duration)
    _set(beats, idx, t, valid, AF_BEAT, hr)

    idx = np.flatnonzero(y == 2)  # sinus rhythm with 1-2 ventricular premature beats
    hr = rng.uniform(60, 95, len(idx))
    t, valid = _times_from_rr(rng, _sinus_rr(rng, hr, slots), duration)
    kind = np.full(t.shape, NORMAL, np.int8)
    coupling = rng.uniform(0.55, 0.70, t.shape)
    early = t.copy()
    early[:, 1:] = t[:, :-1] + coupling[:, 1:] * (t[:, 1:] - t[:, :-1])
    # Candidates: the premature beat (QRS + most of its T) lies inside the window. The next
    # sinus beat keeps its time, giving the full compensatory pause.
    cand = valid & (early >= 0.1) & (early <= duration - 0.3)
    cand[:, 0] = False
    if not cand.any(1).all():
        raise RuntimeError('no room for a VPB')
    first = np.argmax(np.where(cand, rng.random(t.shape), -1), 1)
    rows = np.arange(len(idx))
    kind[rows, first] = ECTOPIC
    slot = np.arange(slots)[None]
    cand2 = cand & (np.abs(slot - first[:, None]) >= 3)
    second = np.argmax(np.where(cand2, rng.random(t.shape), -1), 1)
    use2 = cand2.any(1) & (rng.random(len(idx)) < 0.4)
    kind[rows[use2], second[use2]] = ECTOPIC
    t = np.where(kind == ECTOPIC, early, t)
    beats['r_time'][idx], beats['valid'][idx] = t, valid
    beats['kind'][idx], beats['heart_rate'][idx] = kind, hr

    idx = np.flatnonzero(y == 3)  # sinus bradycardia or tachycardia
    brady = rng.random(len(idx)) < 0.5
    hr = np.where(brady, rng.uniform(40, 56, len(idx)), rng.uniform(104, 150, len(idx)))
    t, valid = _times_from_rr(rng, _sinus_rr(rng, hr, slots), duration)
    _set(beats, idx, t, valid, NORMAL, hr)


def _motif_gaps(k: int) -> tuple[int, ...]:
    """Numbers of upright beats between the two inverted beats for label-0 examples."""
    return tuple(g for g in (k - 2, k - 1, k + 1, k + 2) if g >= 0)


def _motif_hr_range(duration: float, k: int) -> tuple[float, float]:
    """Heart-rate range (bpm) shared by both motif classes, such that the widest pattern
    (k+2 upright beats between the inverted ones) always fits in the window."""
    rr_max = _motif_usable(duration) / _motif_rr_units(k)
    lo = max(60.0, 60.0 / rr_max) if rr_max > 0 else math.inf
    hi = max(100.0, lo + 30.0)
    if lo > _MOTIF_MAX_BPM * (1 + 1e-9):
        raise ValueError(f'motif_k={k} does not fit a {duration:g} s window')
    return lo, hi


def _motif_usable(duration: float) -> float:
    return duration - sum(_MOTIF_MARGINS)


def _motif_rr_units(k: int) -> float:
    # The widest pattern spans k+3 RR intervals, plus one RR for the random phase of the beat
    # train relative to the window; sinus RR stays within 1.08 * rr0 (5 % RSA + 3 sigma of
    # 1 % jitter) -> 10 % safety factor.
    return 1.1 * (k + 2 + 2)


def motif_min_window(motif_k: int, sample_rate: float, max_bpm: float = _MOTIF_MAX_BPM) -> int:
    """Smallest ``window`` (samples) for which the motif variant with ``motif_k`` can be
    generated with heart rates up to ``max_bpm`` (default: the generator's hard limit)."""
    seconds = _motif_rr_units(motif_k) * 60.0 / max_bpm + sum(_MOTIF_MARGINS)
    return math.ceil(round(seconds * sample_rate, 6))


def _recall_rr_max() -> float:
    return 60.0 / _RECALL_BPM[0] * _RECALL_RR_SPREAD


def recall_span_samples(motif_k: int, sample_rate: float) -> int:
    """Most samples from the recall variant's inverted R peak to the window's end: the receptive
    field (or memory) a model reading the last step needs to classify every window."""
    seconds = _MOTIF_MARGINS[1] + (motif_k + 1) * _recall_rr_max()
    return math.ceil(round(seconds * sample_rate, 6))


def recall_min_window(motif_k: int, sample_rate: float) -> int:
    """Smallest ``window`` (samples) that holds the recall variant's k+1 beats and margins."""
    seconds = sum(_MOTIF_MARGINS) + 1.1 * (motif_k + 1) * _recall_rr_max()
    return math.ceil(round(seconds * sample_rate, 6))


def _recall_beats(rng, y, beats, duration, k):
    n, slots = beats['r_time'].shape
    hr = rng.uniform(*_RECALL_BPM, n)
    t, valid = _times_from_rr(rng, _sinus_rr(rng, hr, slots), duration)
    last = (t <= duration - _MOTIF_MARGINS[1]).sum(1) - 1  # R times increase along a row.
    recalled = last - k
    rows = np.arange(n)
    if not (recalled >= 0).all() or not (t[rows, recalled] >= _MOTIF_MARGINS[0]).all():
        raise RuntimeError('the recalled beat does not fit the window')
    inverted = y == 1
    beats['polarity'][rows[inverted], recalled[inverted]] = -1
    beats['r_time'][:], beats['valid'][:], beats['heart_rate'][:] = t, valid, hr
    beats['kind'][:] = NORMAL
    beats['recalled'] = recalled


def _motif_beats(rng, y, beats, duration, k):
    n, slots = beats['r_time'].shape
    lo, hi = _motif_hr_range(duration, k)
    hr = rng.uniform(lo, hi, n)
    t, valid = _times_from_rr(rng, _sinus_rr(rng, hr, slots), duration)
    neg = np.array(_motif_gaps(k))
    gap = np.where(y == 1, k, neg[rng.integers(0, len(neg), n)])
    # First inverted beat i: both i and i + gap + 1 inside the window (with P/T margins).
    slot = np.arange(slots)[None]
    second = np.minimum(slot + gap[:, None] + 1, slots - 1)
    t2 = np.take_along_axis(t, second, 1)
    ok = (
        (t >= _MOTIF_MARGINS[0])
        & (t2 <= duration - _MOTIF_MARGINS[1])
        & (slot + gap[:, None] + 1 < slots)
    )
    if not ok.any(1).all():
        raise RuntimeError('motif does not fit the window')
    first = np.argmax(np.where(ok, rng.random(t.shape), -1), 1)
    rows = np.arange(n)
    beats['polarity'][rows, first] = -1
    beats['polarity'][rows, first + gap + 1] = -1
    beats['r_time'][:], beats['valid'][:], beats['heart_rate'][:] = t, valid, hr
    beats['kind'][:] = NORMAL
    beats['gap'] = gap


def _assign_morphology(rng, beats):
    """Per-example morphology and per-beat jitter -> (N, slots, 6) Gaussian parameters."""
    t, kind = beats['r_time'], beats['kind']
    n, slots = t.shape
    gain = rng.uniform(0.7, 1.3, (n, 1))
    # Relative scale of P, Q, R, S, T (T1 and T2 share one factor).
    ratio = rng.uniform([0.7, 0.5, 0.8, 0.5, 0.7], [1.3, 1.5, 1.2, 1.5, 1.3], (n, 5))
    ratio = np.concatenate([ratio, ratio[:, 4:]], 1)
    width = rng.uniform(0.9, 1.1, (n, 6))
    sinus_a = gain * ratio * _SINUS_A
    vpb_a = gain * rng.uniform(0.8, 1.2, (n, 1)) * _VPB_A
    vpb_sig = _VPB_SIG * rng.uniform(0.9, 1.15, (n, 1))

    ectopic = (kind == ECTOPIC)[..., None]
    a = np.where(ectopic, vpb_a[:, None], sinus_a[:, None])
    a = np.where((kind == AF_BEAT)[..., None] & (np.arange(6) == 0), 0.0, a)  # no P in AF
    mu = np.where(ectopic, _VPB_MU, np.broadcast_to(_SINUS_MU, (n, slots, 6)))
    sig = np.where(ectopic, vpb_sig[:, None], (width * _SINUS_SIG)[:, None])

    # QT follows the preceding RR (Bazett); T also broadens slightly at slow rates.
    rr = np.diff(t, axis=1, prepend=t[:, :1] - 60.0 / beats['heart_rate'][:, None])
    rr = np.clip(rr, _RR_MIN, _RR_MAX)[..., None]
    mu = mu.copy()
    mu[..., _T_WAVES] *= np.sqrt(rr)
    sig = sig.copy()
    sig[..., _T_WAVES] *= rr**0.25

    # Respiratory modulation of amplitude plus per-beat jitter.
    f_resp = rng.uniform(0.15, 0.35, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    resp = 1 + 0.05 * np.sin(2 * np.pi * f_resp * t + phase)
    jitter = 1 + 0.03 * np.clip(rng.standard_normal((n, slots)), -3, 3)
    a = a * (resp * jitter * beats['polarity'])[..., None]
    beats.update(a=a, mu=mu, sig=sig)


def _render(beats, window: int, fs: float, chunk: int = 8192) -> np.ndarray:
    """Sums every valid beat's Gaussians into (N, window) by local evaluation + bincount."""
    n = beats['r_time'].shape[0]
    ex, sl = np.nonzero(beats['valid'])
    t = beats['r_time'][ex, sl]
    a, mu, sig = beats['a'][ex, sl], beats['mu'][ex, sl], beats['sig'][ex, sl]
    out = np.zeros(n * window)
    for waves, (lo, hi) in _SPANS:
        offsets = np.arange(math.floor(lo * fs), math.ceil(hi * fs) + 1)
        for s in range(0, len(t), chunk):
            e = slice(s, s + chunk)
            sample = np.floor(t[e] * fs).astype(np.int64)[:, None] + offsets  # (M, L)
            rel = sample / fs - t[e, None]  # seconds from the R peak
            z = (rel[..., None] - mu[e, None, waves]) / sig[e, None, waves]  # (M, L, W)
            val = np.einsum('mlw,mw->ml', np.exp(-0.5 * z * z), a[e, waves])
            keep = (sample >= 0) & (sample < window)
            flat = (ex[e, None] * window + sample)[keep]
            out += np.bincount(flat, weights=val[keep], minlength=n * window)
    return out.reshape(n, window)


def _f_waves(rng, n: int, window: int, fs: float) -> np.ndarray:
    """Fibrillatory baseline: 4-9 Hz quasi-sinusoid with drifting frequency and amplitude."""
    t = np.arange(window)[None] / fs
    f0 = rng.uniform(4.0, 9.0, (n, 1))
    amp = rng.uniform(0.03, 0.10, (n, 1))
    fm = rng.uniform(0.1, 0.4, (n, 1))
    phase = 2 * np.pi * f0 * t + 3.0 * np.sin(2 * np.pi * fm * t) + rng.uniform(0, 6.3, (n, 1))
    f_am = rng.uniform(0.1, 0.5, (n, 1))
    am = 1 + 0.4 * np.sin(2 * np.pi * f_am * t + rng.uniform(0, 6.3, (n, 1)))
    return amp * am * (np.sin(phase) + 0.3 * np.sin(2 * phase + 1.0))


def _baseline_wander(rng, n: int, window: int, fs: float) -> np.ndarray:
    """Respiration/motion baseline wander: two slow sinusoids (< 0.5 Hz)."""
    t = np.arange(window)[None] / fs
    out = np.zeros((n, window))
    for lo, hi, amp in ((0.05, 0.15, 0.15), (0.15, 0.5, 0.08)):
        f = rng.uniform(lo, hi, (n, 1))
        out += rng.uniform(0, amp, (n, 1)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, (n, 1)))
    return out
