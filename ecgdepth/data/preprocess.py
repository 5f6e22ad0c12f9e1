"""Signal conditioning of one record's lead before it is cut into windows: an optional
zero-phase Butterworth band-pass and a record-wise normalisation.

Why per record, before windowing: a filter needs the signal around a window's edges (filtering a
short window rings at its ends), and amplitudes differ between patients and electrode
placements, so a record's own statistics (not a window's, which a beat's QRS dominates) set
its scale. Each step is a data field of the datasets that use it (mitbih: `record_norm`,
`bandpass`, `bandpass_order`); this module needs numpy and scipy only, no TFDS or JAX, so any
dataset builder can reuse it.
"""

from __future__ import annotations

import re

import numpy as np

RECORD_NORMS = ('none', 'zscore', 'median_mad')
# What a window may be read relative to, as extra channels (`relative_to_group_median`).
REFERENCES = ('none', 'record_median')
# MAD -> standard deviation of a normal distribution: 1 / Phi^-1(3/4).
MAD_TO_STD = 1.4826
_SEPARATORS = r'[,;\s]+|(?<![eE])\+'  # between the two edges ('1e+2' stays one number)


def parse_bandpass(text: str, field: str = 'config.data.bandpass') -> tuple[float, float] | None:
    """'' -> None (no filter); 'low,high' in Hz -> (low, high) with 0 <= low < high. low = 0
    is a low-pass at `high`. ';', '+' or spaces separate too (the command-line config spec
    splits on commas: 'bandpass=0.5+40'). The Nyquist limit needs the record's rate:
    `check_band`."""
    text = str(text or '').strip()
    if not text:
        return None
    try:
        low, high = (float(part) for part in re.split(_SEPARATORS, text))
    except ValueError:
        low = high = float('nan')
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low < high):
        raise ValueError(
            f"{field} must be '' (off) or 'low,high' in Hz with 0 <= low < high, got {text!r}"
        )
    return low, high


def band_text(band: tuple[float, float] | None) -> str:
    """The canonical text of a band ('' for none): the same band is the same cache key."""
    return '' if band is None else f'{band[0]:g},{band[1]:g}'


def check_band(
    band: tuple[float, float] | None, fs: float, where: str, field: str = 'config.data.bandpass'
) -> None:
    """Raises ValueError naming `field` and `where` (a record) if the band's upper edge is not
    below the Nyquist frequency fs / 2 of the signal it filters."""
    if band is not None and band[1] >= fs / 2:
        raise ValueError(
            f'{field}={band_text(band)!r}: the upper edge must be below the Nyquist frequency '
            f'{fs / 2:g} Hz of {where} (sampled at {fs:g} Hz)'
        )


def bandpass(x: np.ndarray, fs: float, band: tuple[float, float], order: int) -> np.ndarray:
    """Zero-phase (forward-backward, so the effective order is 2 * `order` and R peaks do not
    shift) Butterworth band-pass of `band` Hz, or low-pass at band[1] where band[0] is 0."""
    from scipy import signal as sps

    low, high = band
    if low > 0:
        sos = sps.butter(order, [low, high], btype='bandpass', fs=fs, output='sos')
    else:
        sos = sps.butter(order, high, btype='lowpass', fs=fs, output='sos')
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    return sps.sosfiltfilt(sos, np.asarray(x, np.float64), padlen=max(padlen, 0))


def normalize_record(x: np.ndarray, method: str) -> np.ndarray:
    """The whole lead centred and scaled by its own statistics: 'zscore' (mean, standard
    deviation) or 'median_mad' (median, 1.4826 x median absolute deviation: robust to the
    artefacts and ectopic runs real records hold); 'none' returns x. A constant lead (zero
    scale) is only centred, never divided by zero."""
    if method == 'none':
        return x
    x = np.asarray(x, np.float64)
    if method == 'zscore':
        centre, scale = float(np.mean(x)), float(np.std(x))
    elif method == 'median_mad':
        centre = float(np.median(x))
        scale = MAD_TO_STD * float(np.median(np.abs(x - centre)))
    else:
        raise ValueError(f'record normalisation must be one of {RECORD_NORMS}, got {method!r}')
    return (x - centre) / (scale if scale > 0 else 1.0)


def condition(
    x: np.ndarray,
    fs: float,
    record_norm: str = 'none',
    band: tuple[float, float] | None = None,
    order: int = 2,
) -> np.ndarray:
    """One record's lead as the windows are cut from it: band-passed (if `band`), then
    normalised by `record_norm`, at its native rate `fs`."""
    if band is not None:
        x = bandpass(x, fs, band, order)
    return normalize_record(x, record_norm)


def relative_to_group_median(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N, T, C) windows -> (N, T, 2C): each window, then the window minus the median of its
    group's windows (for beats, the patient's typical beat).

    Why: morphology differs more between patients than between a patient's normal and ectopic
    beats, so a beat read against its own record's typical beat carries what transfers to an
    unseen patient. It uses the record's signal only, never a label (as `normalize_record`)."""
    x = np.asarray(x, np.float32)
    groups = np.asarray(groups)
    if len(groups) != len(x):
        raise ValueError(f'{len(x)} windows but {len(groups)} group ids')
    relative = np.empty_like(x)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        relative[rows] = x[rows] - np.median(x[rows], axis=0)
    return np.concatenate([x, relative], axis=-1)
