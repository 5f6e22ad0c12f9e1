"""PhysioNet beat-annotated ECG databases (MIT-BIH format) as a TFDS builder.

Why: the depth ablations need a real-ECG benchmark whose evaluation is comparable with the
literature, i.e. AAMI EC57 beat classes under the inter-patient split of de Chazal et al.
(2004), where no patient is in both training and test data (intra-patient splits leak
morphology and inflate accuracy). The builder reads any PhysioNet WFDB database annotated in
the MIT-BIH convention: ``mitdb`` first, also ``svdb`` (128 Hz) and ``incartdb`` (257 Hz).
Data come from ``manual_dir`` (a folder of .hea/.dat/.atr files) or are downloaded from
physionet.org through TFDS's download manager.

Variants
--------
``beats`` (5 classes, AAMI EC57): N = N L R e j; S = A a J S; V = V E; F = F; Q = / f Q.
  One example per annotated beat: the ``lead`` signal from ``beat_before`` s before to
  ``beat_after`` s after the annotated R peak (the peak sits at index round(beat_before * fs)),
  in mV, resampled to ``sample_rate``. Beats whose window runs off the record are dropped and
  counted (``dropped_edge``). Symbols that are not beats (rhythm '+', noise '~', artifact '|',
  comments '"', blocked P wave 'x', flutter waves '!', VF markers '[' ']', ...) are ignored;
  '!' (ventricular flutter waves) are not heartbeats for EC57 even though WFDB's ``isqrs``
  counts them. Beat symbols outside the mapping (``unmapped_beats``, default ``B n r ?``,
  the remaining WFDB QRS codes; MIT-BIH itself uses none of them) are skipped and counted, or
  raise (``unknown_symbols='error'``).
  Side features ``rr`` (FEATURE_NAMES; at the record's native rate), the beat context S beats
  are defined by (prematurity, which a window alone may not show). The four RR intervals of
  de Chazal et al. (2004), in seconds: previous RR, next RR, local mean RR = mean of the 10
  RR intervals around the beat (5 before, 5 after; fewer at record edges), and long mean RR
  = mean of the RR intervals within ``rr_long_seconds`` (default 300 s = de Chazal's 5
  minutes) centred on the beat (truncated at record edges; the local mean where no other
  beat lies within it). Then five ratios, the RR intervals relative to the patient's own
  rhythm (Mondéjar-Guerra et al. 2019, Biomed. Signal Process. Control 47:41-48, divide each
  by the record's mean; a long mean that moves with the heart rate does the same): previous
  and next over local (prematurity, compensatory pause), previous over next, local over long
  (a run of fast beats), previous over long. A zero denominator (two beats annotated at one
  sample) gives the ratio 1. At the first/last beat of a record the missing previous/next RR
  is replaced by the local mean. All beat annotations (skipped ones included) count as RR
  neighbours; a record with fewer than 2 beats gets all features 0. Stretches without beat
  annotations (e.g. the ventricular flutter of mitdb 207) give long RR values (up to 100 s).
  The loader standardises them with training statistics (``feature_norm``, common field).
``rhythm`` (the 15 rhythm labels of mitdb, see RHYTHM_CLASSES): non-overlapping windows of
  ``window_seconds`` from the record start, labelled by the rhythm annotations (aux notes
  like '(N', '(AFIB' on '+' annotations). A window spanning a rhythm change is dropped
  (``straddle='drop'``) or takes the rhythm covering most of it (``'majority'``; ties go to
  the earlier class in RHYTHM_CLASSES). Signal before the first rhythm annotation is
  unlabelled: 'drop' drops windows touching it, 'majority' those it mostly covers. Unknown
  rhythm labels are unlabelled too and counted, or raise (``unknown_symbols='error'``).

Splits
------
``de_chazal`` (mitdb only): paced records 102, 104, 107, 217 excluded; DS1 = train, minus
``validation_records`` (whole records) = validation; DS2 = test. Default validation records
101, 124, 201, 223: ~15 % of DS1 beats holding every AAMI class (S 235, V 718, F 21, Q 2),
while the S-rich 209 and F-rich 208 stay in training. ``records`` (any database): the
database's records shuffled with ``split_seed`` and cut by ``split_fractions`` (for mitdb
this includes the paced records, two of which lack MLII: see ``missing_lead``). TFDS cannot
store an empty split, so one without examples is left out and ``load`` names the field.

Signal conditioning (both variants; ecgdepth/data/preprocess.py), per record at its native rate
before windowing: ``bandpass`` 'low,high' Hz (zero-phase Butterworth of ``bandpass_order``;
low 0 = low-pass; '' = off) then ``record_norm`` ('zscore' or 'median_mad' of the whole lead;
'none' = mV as stored).

Real files as they are (``strict=False``, the default): an annotation outside the record's
samples is dropped, a record without ``lead`` is left out (``missing_lead='auto'`` follows
``strict``; 'skip' or 'error' override it), each with a warning naming the record; beats whose
window runs off the record are dropped in either mode. All three are listed per record in the
metadata's ``dropped`` section (summary.json keeps it). ``strict=True`` refuses the first two
with an error naming the record.

Resampling uses ``scipy.signal.resample_poly`` with up/down = the rational approximation
(denominator <= 1000) of sample_rate / fs; annotation positions are mapped with the same
ratio (rounded to the nearest sample). Non-finite samples (WFDB's invalid value) become 0.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from ecgdepth.data import base, preprocess, tfds_prep
from ecgdepth.data.base import SPLITS

NAME = 'mitbih'
VARIANTS = ('beats', 'rhythm')

AAMI_CLASSES = ('N', 'S', 'V', 'F', 'Q')
# The beat benchmark's score: the AAMI four-class macro-F1 (N, S, V, F; Q excluded, as the
# inter-patient literature reports it; Mondejar-Guerra et al. 2019).
BEAT_SCORES = {'aami_macro_f1': ('N', 'S', 'V', 'F')}
AAMI_MAP = {
    **dict.fromkeys('NLRej', 'N'),
    **dict.fromkeys('AaJS', 'S'),
    **dict.fromkeys('VE', 'V'),
    'F': 'F',
    **dict.fromkeys('/fQ', 'Q'),
}
# The beat context (module doc): four RR intervals (s), then five ratios of them.
RR_INTERVALS = ('rr_prev', 'rr_next', 'rr_local', 'rr_long')
RR_RATIOS = (  # name: (numerator, denominator)
    ('rr_prev_local', 'rr_prev', 'rr_local'),
    ('rr_next_local', 'rr_next', 'rr_local'),
    ('rr_prev_next', 'rr_prev', 'rr_next'),
    ('rr_local_long', 'rr_local', 'rr_long'),
    ('rr_prev_long', 'rr_prev', 'rr_long'),
)
FEATURE_NAMES = RR_INTERVALS + tuple(name for name, _, _ in RR_RATIOS)
RR_LOCAL_HALF = 5  # local mean RR over 2 * 5 = 10 intervals around the beat

# Rhythm labels used in mitdb ('(' stripped), most frequent first: normal sinus, atrial
# fibrillation, atrial flutter, ventricular bigeminy, ventricular trigeminy, ventricular
# tachycardia, supraventricular tachyarrhythmia, nodal (A-V junctional) rhythm, idioventricular
# rhythm, atrial bigeminy, 2nd-degree heart block, pre-excitation (WPW), sinus bradycardia,
# ventricular flutter, paced rhythm (paced records only, so absent under de_chazal).
RHYTHM_CLASSES = tuple('N AFIB AFL B T VT SVTA NOD IVR AB BII PREX SBR VFL P'.split())

# de Chazal, O'Dwyer & Reilly (2004), IEEE TBME 51(7):1196-1206.
PACED = ('102', '104', '107', '217')
DS1 = tuple(
    '101 106 108 109 112 114 115 116 118 119 122 124 '
    '201 203 205 207 208 209 215 220 223 230'.split()
)
DS2 = tuple(
    '100 103 105 111 113 117 121 123 200 202 210 212 '
    '213 214 219 221 222 228 231 232 233 234'.split()
)
DEFAULT_VALIDATION = ('101', '124', '201', '223')
# Published AAMI totals of DS1 (train + validation) and DS2 (test), de Chazal et al. Table I.
PUBLISHED = {
    'DS1': {'N': 45866, 'S': 944, 'V': 3788, 'F': 415, 'Q': 8},
    'DS2': {'N': 44259, 'S': 1837, 'V': 3221, 'F': 388, 'Q': 7},
}

_PHYSIONET = 'Goldberger AL, et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000).'  # noqa: E501
DATABASES: dict[str, dict[str, str]] = {
    'mitdb': {
        'title': 'MIT-BIH Arrhythmia Database',
        'version': '1.0.0',
        'license': 'Open Data Commons Attribution License v1.0 (ODC-By 1.0)',
        'citation': 'Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE '
        'Eng in Med and Biol 20(3):45-50 (2001). ' + _PHYSIONET,
    },
    'svdb': {
        'title': 'MIT-BIH Supraventricular Arrhythmia Database',
        'version': '1.0.0',
        'license': 'Open Data Commons Attribution License v1.0 (ODC-By 1.0)',
        'citation': 'Greenwald SD, Patil RS, Mark RG. Improved detection and classification of '
        'arrhythmias in noise-corrupted electrocardiograms using contextual information. '
        'Computers in Cardiology 1990:461-464. ' + _PHYSIONET,
    },
    'incartdb': {
        'title': 'St Petersburg INCART 12-lead Arrhythmia Database',
        'version': '1.0.0',
        'license': 'Open Data Commons Attribution License v1.0 (ODC-By 1.0)',
        'citation': _PHYSIONET,
    },
}

# The data section's fields besides the common ones (base.COMMON_DEFAULTS), with defaults.
DEFAULTS: dict[str, Any] = {
    'variant': 'beats',  # 'beats' (AAMI N S V F Q) or 'rhythm' (RHYTHM_CLASSES windows)
    'database': 'mitdb',  # PhysioNet slug: mitdb, svdb, incartdb, ...
    'manual_dir': '',  # folder with the WFDB files; '' = download from physionet.org
    # beats: the side features the model reads ('' = all of FEATURE_NAMES; else names joined
    # by '+', e.g. 'rr_prev_local+rr_next_local+rr_prev_long'); chosen when loading.
    'features': '',
    # beats: 'record_median' adds a channel, each beat minus its record's median beat (chosen
    # when loading; ecgdepth/data/preprocess.py: relative_to_group_median).
    'beat_reference': 'none',
    'lead': 'MLII',  # signal name in the .hea (svdb: 'ECG1', incartdb: 'II', ...)
    'sample_rate': 360.0,  # Hz of the stored windows (resampled from the record's rate)
    'beat_before': 0.7,  # s of signal before the R peak (beats)
    'beat_after': 0.7,  # s after it (beats)
    'validation_records': ','.join(DEFAULT_VALIDATION),  # DS1 records held out (de_chazal)
    'unknown_symbols': 'skip',  # unmapped beat symbol / unknown rhythm: 'skip' or 'error'
    'window_seconds': 10.0,  # rhythm window length, s (non-overlapping)
    'straddle': 'drop',  # rhythm window across a rhythm change: 'drop' or 'majority'
    # Beyond the fixed fields: other databases, odd records.
    'split': 'de_chazal',  # or 'records' (any database; seeded record-level split)
    'split_seed': 0,  # split='records': seed of the record shuffle
    'split_fractions': '0.7,0.1,0.2',  # split='records': train,validation,test
    'missing_lead': 'auto',  # 'auto' (= 'error' if strict, else 'skip'), 'skip' or 'error'
    'unmapped_beats': 'B,n,r,?',  # beat symbols outside AAMI_MAP (skipped or error)
    'strict': False,  # refuse annotations outside the signal (and missing leads, by 'auto')
    'rr_long_seconds': 300.0,  # span of the long mean RR centred on each beat (beats)
    # Per-record conditioning before windowing (ecgdepth/data/preprocess.py).
    'record_norm': 'none',  # 'none', 'zscore' or 'median_mad' of the record's lead
    'bandpass': '',  # '' = off, or 'low,high' in Hz (low 0 = low-pass); below fs / 2
    'bandpass_order': 2,  # Butterworth order (applied forward and backward: zero phase)
}
# Each field of its default's type; validate_params checks values and cross-field rules.
RULES = base.typed(DEFAULTS)
# `runlocal`: a quick evaluation.
RUNLOCAL: dict[str, dict[str, Any]] = {'*': {'data.max_eval_examples': 512}}
# Parameters that change the stored data, per variant (manual_dir only says where files are).
_COMMON_KEYS = (
    *('database', 'lead', 'sample_rate', 'split', 'unknown_symbols', 'missing_lead', 'strict'),
    *('record_norm', 'bandpass', 'bandpass_order'),
)
_DATA_KEYS = {
    'beats': (*_COMMON_KEYS, 'beat_before', 'beat_after', 'unmapped_beats', 'rr_long_seconds'),
    'rhythm': (*_COMMON_KEYS, 'window_seconds', 'straddle'),
}


# Fields that say where the files are or how the stored data are read (not cache keys).
LOAD_TIME_KEYS = ('manual_dir', 'features', 'beat_reference')

_STAT_KEYS = {
    'beats': ('counts', 'dropped_edge', 'skipped_unmapped'),
    'rhythm': ('counts', 'dropped', 'unknown_rhythms'),
}


class WfdbFileError(ValueError):
    """A WFDB file is missing, unreadable or inconsistent with its header."""


class UnknownSymbolError(ValueError):
    """A beat symbol or rhythm label outside the class mapping (unknown_symbols='error')."""


class MissingLeadError(ValueError):
    """A record lacks the requested lead (missing_lead='error', or 'auto' with strict)."""


# --------------------------------------------------------------------------------------------
# Parameters.
# --------------------------------------------------------------------------------------------


def _csv(value: Any) -> tuple[str, ...]:
    """Items of a list-valued field. Besides ',' also ';', '+' and spaces separate, since the
    command-line config spec (ecgdepth/spec.py) splits on commas: '101+124+201+223'."""
    if isinstance(value, list | tuple):
        value = ','.join(str(v) for v in value)
    return tuple(item for item in re.split(r'[,;+\s]+', str(value)) if item)


def _csv_text(value: Any) -> str:
    return ','.join(_csv(value))


# How validate_params converts the fields that are not simply of their default's type.
_CONVERT = {
    'manual_dir': base.optional_text,
    'validation_records': _csv_text,
    'split_fractions': _csv_text,
    'unmapped_beats': _csv_text,
    'bandpass': base.optional_text,
}


def _choice(p: Mapping[str, Any], key: str, choices: Sequence[str]) -> None:
    if p[key] not in choices:
        raise ValueError(f'config.data.{key} must be one of {tuple(choices)}, got {p[key]!r}')


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, coerce types and reject values that cannot produce a valid dataset."""
    p = base.coerce_params(params, DEFAULTS, 'mitbih', _CONVERT)
    _choice(p, 'variant', VARIANTS)
    _choice(p, 'unknown_symbols', ('skip', 'error'))
    _choice(p, 'straddle', ('drop', 'majority'))
    _choice(p, 'split', ('de_chazal', 'records'))
    _choice(p, 'beat_reference', preprocess.REFERENCES)
    if p['beat_reference'] != 'none' and p['variant'] != 'beats':
        raise ValueError(
            f'config.data.beat_reference={p["beat_reference"]!r} reads beats against their '
            f"record's; it needs config.data.variant='beats', not {p['variant']!r}"
        )
    _check_reading(p)
    if not re.fullmatch(r'[a-z0-9][a-z0-9_-]*', p['database']):
        raise ValueError(
            f'config.data.database must be a PhysioNet database slug such as mitdb, svdb or '
            f'incartdb, got {p["database"]!r}'
        )
    if not p['lead'].strip():
        raise ValueError('config.data.lead must name a lead, e.g. MLII')
    if not 50.0 <= p['sample_rate'] <= 2000.0:
        raise ValueError(
            f'config.data.sample_rate must be in [50, 2000] Hz, got {p["sample_rate"]}'
        )
    for key in ('beat_before', 'beat_after'):
        if not 0.0 <= p[key] <= 5.0:
            raise ValueError(f'config.data.{key} must be in [0, 5] s, got {p[key]}')
    if round(p['beat_before'] * p['sample_rate']) + round(p['beat_after'] * p['sample_rate']) < 8:
        raise ValueError(
            'config.data.beat_before + config.data.beat_after: the beat window must hold at '
            f'least 8 samples at config.data.sample_rate={p["sample_rate"]:g}'
        )
    if not 1.0 <= p['window_seconds'] <= 600.0:
        raise ValueError(
            f'config.data.window_seconds must be in [1, 600] s, got {p["window_seconds"]}'
        )
    if p['split_seed'] < 0:
        raise ValueError(f'config.data.split_seed must be >= 0, got {p["split_seed"]}')
    _check_fractions(p['split_fractions'])
    overlap = set(_csv(p['unmapped_beats'])) & set(AAMI_MAP)
    if overlap:
        raise ValueError(
            f'config.data.unmapped_beats must not contain mapped AAMI symbols: {sorted(overlap)}'
        )
    if p['split'] == 'de_chazal':
        if p['database'] != 'mitdb':
            raise ValueError(
                f"config.data.split='de_chazal' defines mitdb record lists only; use "
                f"config.data.split='records' for config.data.database={p['database']!r}"
            )
        validation = _check_validation_records(p['validation_records'])
        # DS1 order: the same records in another order are the same data (and cache).
        p['validation_records'] = ','.join(r for r in DS1 if r in validation)
    return p


def _check_reading(p: dict[str, Any]) -> None:
    """strict, missing_lead ('auto' resolved, so equal data have one cache key), the RR span
    and the signal conditioning (the Nyquist limit waits for each record's rate)."""
    _choice(p, 'missing_lead', ('auto', 'error', 'skip'))
    if p['missing_lead'] == 'auto':
        p['missing_lead'] = 'error' if p['strict'] else 'skip'
    if not 10.0 <= p['rr_long_seconds'] <= 3600.0:
        raise ValueError(
            f'config.data.rr_long_seconds must be in [10, 3600] s, got {p["rr_long_seconds"]}'
        )
    _choice(p, 'record_norm', preprocess.RECORD_NORMS)
    p['bandpass'] = preprocess.band_text(preprocess.parse_bandpass(p['bandpass']))
    if not 1 <= p['bandpass_order'] <= 8:
        raise ValueError(
            f'config.data.bandpass_order must be an integer in [1, 8], got {p["bandpass_order"]}'
        )


def _check_fractions(text: str) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(f) for f in _csv(text))
    except ValueError:
        fractions = ()
    if (
        len(fractions) != 3
        or min(fractions) < 0
        or fractions[0] <= 0
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            'config.data.split_fractions must be three non-negative numbers '
            f'train,validation,test summing to 1 with train > 0, got {text!r}'
        )
    return fractions  # type: ignore[return-value]


def _check_validation_records(text: str) -> tuple[str, ...]:
    records = _csv(text)
    if not records:
        raise ValueError('config.data.validation_records must name at least one DS1 record')
    for record in records:
        if record not in DS1:
            why = (
                ' (paced, excluded)'
                if record in PACED
                else ' (DS2 = test)'
                if record in DS2
                else ''
            )
            raise ValueError(
                f'config.data.validation_records: record {record!r} is not in DS1{why}; '
                f'DS1 records: {" ".join(DS1)}'
            )
    if len(set(records)) != len(records):
        raise ValueError(f'config.data.validation_records lists a record twice: {text!r}')
    if len(records) >= len(DS1):
        raise ValueError('config.data.validation_records must leave DS1 records for training')
    return records


def params_from_config(data_config: Any) -> dict[str, Any]:
    """Picks the mitbih parameters out of ``config.data`` (missing keys -> DEFAULTS)."""
    return validate_params(base.pick_params(data_config, DEFAULTS))


def window_length(p: Mapping[str, Any]) -> int:
    """Samples per example: the beat window (each half rounded) or the rhythm window."""
    fs = p['sample_rate']
    if p['variant'] == 'beats':
        return round(p['beat_before'] * fs) + round(p['beat_after'] * fs)
    return round(p['window_seconds'] * fs)


def class_names(variant: str) -> tuple[str, ...]:
    return AAMI_CLASSES if variant == 'beats' else RHYTHM_CLASSES


def config_name(params: Mapping[str, Any]) -> str:
    """Cache-directory name: the variant ('beats', 'rhythm': what tfds.builder('mitbih/beats')
    names) for its defaults, else readable main parameters plus a hash of every data one."""
    p = validate_params(params)
    name = _full_name(p)
    return p['variant'] if name == _default_name(p['variant']) else name


@functools.cache
def _default_name(variant: str) -> str:
    return _full_name(validate_params({'variant': variant}))


def _full_name(p: Mapping[str, Any]) -> str:
    keys = _DATA_KEYS[p['variant']]
    keys += (
        ('validation_records',) if p['split'] == 'de_chazal' else ('split_seed', 'split_fractions')
    )
    if not p['bandpass']:  # no filter: its order changes nothing
        keys = tuple(k for k in keys if k != 'bandpass_order')
    digest = hashlib.sha1(json.dumps({k: p[k] for k in keys}, sort_keys=True).encode()).hexdigest()
    lead = re.sub(r'[^A-Za-z0-9]+', '', p['lead']) or 'lead'
    name = f'{p["variant"]}-{p["database"]}-{lead}-fs{p["sample_rate"]:g}'
    if p['variant'] == 'beats':
        name += f'-b{p["beat_before"]:g}-a{p["beat_after"]:g}'
    else:
        name += f'-w{p["window_seconds"]:g}-{p["straddle"]}'
    if p['split'] == 'de_chazal':
        name += '-dechazal-val' + '.'.join(_csv(p['validation_records']))
    else:
        name += f'-records-s{p["split_seed"]}'
    if p['bandpass']:
        name += '-bp' + p['bandpass'].replace(',', '-')
    if p['record_norm'] != 'none':
        name += f'-{p["record_norm"].replace("_", "")}'
    return f'{name}-{p["unknown_symbols"]}{"-strict" if p["strict"] else ""}-{digest[:8]}'


def _resample_ratio(fs: float, sample_rate: float) -> tuple[int, int]:
    ratio = Fraction(sample_rate / fs).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


# --------------------------------------------------------------------------------------------
# WFDB files, checked.
# --------------------------------------------------------------------------------------------

# Bytes per sample of the common WFDB formats (212: two 12-bit samples in 3 bytes, 310/311:
# three 10-bit samples in 4 bytes); others (e.g. FLAC) are not size-checked.
_BYTES_PER_SAMPLE = {'8': 1, '16': 2, '61': 2, '80': 1, '160': 2, '24': 3, '32': 4}


def _data_bytes(fmt: str, samples: int) -> int | None:
    if fmt == '212':
        return math.ceil(samples * 3 / 2)
    if fmt in ('310', '311'):
        return math.ceil(samples / 3) * 4
    per = _BYTES_PER_SAMPLE.get(fmt)
    return None if per is None else per * samples


def read_header(root: str, record: str):
    """The record's wfdb header after checking each .dat file's size against it."""
    import wfdb

    hea = os.path.join(root, f'{record}.hea')
    if not os.path.isfile(hea):
        raise WfdbFileError(f'{hea}: missing header file of record {record}')
    try:
        header = wfdb.rdheader(os.path.join(root, record))
    except Exception as e:  # wfdb raises assorted types on malformed headers
        raise WfdbFileError(f'{hea}: unreadable WFDB header: {e}') from e
    if not header.n_sig or not header.fs or not header.sig_len:
        raise WfdbFileError(f'{hea}: header declares no signals, sampling rate or length')
    files: dict[str, list[int]] = {}
    for i, name in enumerate(header.file_name):
        files.setdefault(name, []).append(i)
    for name, channels in files.items():
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            raise WfdbFileError(f'{path}: missing signal file named by {hea}')
        fmt = str(header.fmt[channels[0]])
        offset = int((header.byte_offset or [0] * header.n_sig)[channels[0]] or 0)
        expected = _data_bytes(fmt, header.sig_len * len(channels))
        if expected is None:
            continue
        expected += offset
        actual = os.path.getsize(path)
        what = (
            f'{header.sig_len} samples x {len(channels)} signals in format {fmt} = {expected} bytes'
        )
        if actual < expected:
            raise WfdbFileError(
                f'{path}: truncated: {actual} bytes, shorter than the header {hea} says ({what})'
            )
        if actual > expected:
            raise WfdbFileError(
                f'{path}: {actual} bytes, longer than the header {hea} says ({what}): the '
                "header's signal length disagrees with the data"
            )
    return header


def read_annotations(root: str, record: str, sig_len: int, strict: bool = True):
    """(samples int64, symbols, aux notes, number dropped) of the record's .atr, checked
    against the signal: an annotation outside its samples raises where `strict`, else it is
    dropped with a warning naming the record."""
    import wfdb

    atr = os.path.join(root, f'{record}.atr')
    if not os.path.isfile(atr):
        raise WfdbFileError(f'{atr}: missing annotation file of record {record}')
    try:
        ann = wfdb.rdann(os.path.join(root, record), 'atr')
    except Exception as e:
        raise WfdbFileError(f'{atr}: unreadable WFDB annotations: {e}') from e
    samples = np.asarray(ann.sample, np.int64)
    symbols = list(ann.symbol)
    aux = [(a or '').strip('\x00 ') for a in (ann.aux_note or [''] * len(symbols))]
    inside = (samples >= 0) & (samples < sig_len)
    outside = int((~inside).sum())
    if outside and strict:
        first = int(samples[~inside][0])
        raise WfdbFileError(
            f'{atr}: annotation at sample {first} outside the {sig_len} samples of record '
            f'{record}; config.data.strict=False drops such annotations (counted)'
        )
    if outside:
        logging.warning(
            'mitbih: record %s: %d annotation(s) outside its %d samples dropped',
            record,
            outside,
            sig_len,
        )
        samples = samples[inside]
        symbols = [s for s, keep in zip(symbols, inside, strict=True) if keep]
        aux = [a for a, keep in zip(aux, inside, strict=True) if keep]
    if np.any(np.diff(samples) < 0):
        raise WfdbFileError(f'{atr}: annotations are not in time order')
    return samples, symbols, aux, outside


def read_lead(root: str, record: str, channel: int, sig_len: int) -> np.ndarray:
    """One channel in physical units (float64), non-finite samples set to 0."""
    import wfdb

    dat = os.path.join(root, f'{record}.dat')
    try:
        signal = wfdb.rdrecord(os.path.join(root, record), channels=[channel]).p_signal[:, 0]
    except Exception as e:
        raise WfdbFileError(f'{dat}: unreadable signal of record {record}: {e}') from e
    if len(signal) != sig_len:
        raise WfdbFileError(f'{dat}: {len(signal)} samples, header says {sig_len}')
    bad = ~np.isfinite(signal)
    if bad.any():
        logging.warning('mitbih: record %s: %d non-finite samples set to 0', record, bad.sum())
        signal = np.where(bad, 0.0, signal)
    return signal


def list_records(root: str) -> list[str]:
    """Record names from the folder's RECORDS file, else from its .hea files."""
    path = os.path.join(root, 'RECORDS')
    if os.path.isfile(path):
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    return sorted(name[:-4] for name in os.listdir(root) if name.endswith('.hea'))


# --------------------------------------------------------------------------------------------
# Per-record plans (annotations only) and splits.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RecordPlan:
    """What one record contributes: example anchors and labels, before any signal is read."""

    record: str
    channel: int
    sig_len: int
    fs: float  # the record's native rate, Hz
    up: int
    down: int
    # Per example: int64 window start at the target rate; int64 R peak (beats) or window start
    # (rhythm) in the record's own samples, for audits; int64 class index.
    positions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    samples: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    rr: np.ndarray | None = None  # float32 (n, len(FEATURE_NAMES)), beats only
    symbols: list[str] | None = None  # annotation symbol per beat, beats only
    stats: dict[str, Counter] = dataclasses.field(default_factory=dict)
    outside: int = 0  # annotations outside the signal, dropped (strict=False)


def rr_features(times: np.ndarray, long_seconds: float = DEFAULTS['rr_long_seconds']):
    """(n, len(FEATURE_NAMES)) float32: the RR intervals and their ratios of each beat at
    `times` (s, increasing), as FEATURE_NAMES lists them (see module doc)."""
    if len(times) < 2:
        return np.zeros((len(times), len(FEATURE_NAMES)), np.float32)
    intervals = rr_intervals(np.asarray(times, np.float64), long_seconds)
    column = dict(zip(RR_INTERVALS, intervals.T, strict=True))
    ratios = []
    for _, top, bottom in RR_RATIOS:
        num, den = column[top], column[bottom]
        ratios.append(np.divide(num, den, out=np.ones_like(num), where=den > 0))
    return np.concatenate([intervals, np.stack(ratios, 1)], 1).astype(np.float32)


def rr_intervals(times: np.ndarray, long_seconds: float) -> np.ndarray:
    """(n, 4) float64 (n >= 2 beats): previous, next, local mean and long mean RR (s)."""
    n = len(times)
    d = np.diff(times)  # interval k lies between beats k and k + 1
    csum = np.concatenate([[0.0], np.cumsum(d)])
    idx = np.arange(n)
    lo = np.clip(idx - RR_LOCAL_HALF, 0, n - 1)  # intervals lo .. hi-1
    hi = np.clip(idx + RR_LOCAL_HALF, 1, n - 1)
    lo = np.minimum(lo, hi - 1)
    local = (csum[hi] - csum[lo]) / (hi - lo)
    prev = np.concatenate([[local[0]], d])
    nxt = np.concatenate([d, [local[-1]]])
    # Long mean: the intervals between the first and last beat within +-long_seconds / 2.
    first = np.searchsorted(times, times - long_seconds / 2, side='left')
    last = np.searchsorted(times, times + long_seconds / 2, side='right') - 1
    count = last - first
    span = times[last] - times[first]
    long = np.divide(span, count, out=local.copy(), where=count > 0)
    return np.stack([prev, nxt, local, long], 1)


def _lead_channel(header, record: str, root: str, p: Mapping[str, Any]) -> int | None:
    names = list(header.sig_name or [])
    if p['lead'] in names:
        return names.index(p['lead'])
    if p['missing_lead'] == 'skip':
        return None
    raise MissingLeadError(
        f'record {record} ({os.path.join(root, record + ".hea")}) has no lead {p["lead"]!r}; '
        f"its leads: {names}. Set config.data.lead, or config.data.missing_lead='skip' to "
        "leave such records out (the default 'auto' does unless config.data.strict)."
    )


def plan_record(root: str, record: str, p: Mapping[str, Any]) -> RecordPlan | None:
    """Checks the record's files and plans its examples; None if it lacks the lead (skip)."""
    header = read_header(root, record)
    channel = _lead_channel(header, record, root, p)
    if channel is None:
        return None
    samples, symbols, aux, outside = read_annotations(root, record, header.sig_len, p['strict'])
    preprocess.check_band(preprocess.parse_bandpass(p['bandpass']), header.fs, f'record {record}')
    up, down = _resample_ratio(float(header.fs), p['sample_rate'])
    length = -(-header.sig_len * up // down)  # resample_poly output length
    if not math.isclose(header.fs * up / down, p['sample_rate'], rel_tol=1e-6):
        logging.warning(
            'mitbih: %s: %g Hz -> %g Hz is resampled by %d/%d, i.e. to %.6g Hz',
            record,
            header.fs,
            p['sample_rate'],
            up,
            down,
            header.fs * up / down,
        )
    plan = RecordPlan(record, channel, int(header.sig_len), float(header.fs), up, down)
    plan.outside = outside
    if p['variant'] == 'beats':
        _plan_beats(plan, float(header.fs), samples, symbols, length, p)
    else:
        _plan_rhythm(plan, samples, symbols, aux, length, p)
    return plan


def _plan_beats(plan: RecordPlan, fs, samples, symbols, length, p) -> None:
    record, up, down = plan.record, plan.up, plan.down
    unmapped = set(_csv(p['unmapped_beats']))
    symbols = np.asarray(symbols, dtype=object)
    is_beat = np.array([s in AAMI_MAP or s in unmapped for s in symbols], bool)
    beat_samples, beat_symbols = samples[is_beat], symbols[is_beat]
    rr = rr_features(beat_samples / fs, p['rr_long_seconds'])
    mapped = np.array([s in AAMI_MAP for s in beat_symbols], bool)
    stats = {'skipped_unmapped': Counter(beat_symbols[~mapped].tolist())}
    if stats['skipped_unmapped'] and p['unknown_symbols'] == 'error':
        first = int(np.flatnonzero(~mapped)[0])
        raise UnknownSymbolError(
            f'record {record}: beat symbol {beat_symbols[first]!r} at sample '
            f'{int(beat_samples[first])} is outside the AAMI mapping {"".join(AAMI_MAP)}; set '
            "config.data.unknown_symbols='skip' to skip such beats"
        )
    labels = np.array([AAMI_CLASSES.index(AAMI_MAP[s]) for s in beat_symbols[mapped]], np.int64)
    positions = np.rint(beat_samples[mapped] * up / down).astype(np.int64)
    before = round(p['beat_before'] * p['sample_rate'])
    after = round(p['beat_after'] * p['sample_rate'])
    inside = (positions - before >= 0) & (positions + after <= length)
    stats['counts'] = Counter(AAMI_CLASSES[c] for c in labels[inside])
    stats['dropped_edge'] = Counter(AAMI_CLASSES[c] for c in labels[~inside])
    plan.positions = positions[inside] - before
    plan.samples = beat_samples[mapped][inside]
    plan.labels = labels[inside]
    plan.rr = rr[mapped][inside]
    plan.symbols = beat_symbols[mapped][inside].tolist()
    plan.stats = stats


def _plan_rhythm(plan: RecordPlan, samples, symbols, aux, length, p) -> None:
    record, up, down = plan.record, plan.up, plan.down
    stats = {'counts': Counter(), 'dropped': Counter(), 'unknown_rhythms': Counter()}
    starts, labels = [], []
    for sample, symbol, note in zip(samples, symbols, aux, strict=True):
        if symbol != '+' or not note.startswith('('):
            continue
        rhythm = note[1:]
        if rhythm in RHYTHM_CLASSES:
            label = RHYTHM_CLASSES.index(rhythm)
        elif p['unknown_symbols'] == 'error':
            raise UnknownSymbolError(
                f'record {record}: rhythm {note!r} at sample {int(sample)} is not one of '
                f"{RHYTHM_CLASSES}; set config.data.unknown_symbols='skip' to drop its windows"
            )
        else:
            stats['unknown_rhythms'][rhythm] += 1
            label = -1
        starts.append(int(np.rint(sample * up / down)))
        labels.append(label)
    # Segments: unlabelled (-1) before the first rhythm annotation, then one per annotation.
    seg_start = np.array([0, *starts], np.int64)
    seg_end = np.append(seg_start[1:], length)
    seg_label = np.array([-1, *labels], np.int64)
    width = round(p['window_seconds'] * p['sample_rate'])
    win_start = np.arange(length // width, dtype=np.int64) * width
    win_end = win_start + width
    overlap = np.minimum(win_end[:, None], seg_end) - np.maximum(win_start[:, None], seg_start)
    overlap = np.clip(overlap, 0, None)
    cover = np.zeros((len(win_start), len(RHYTHM_CLASSES) + 1), np.int64)  # last = unlabelled
    np.add.at(cover.T, seg_label, overlap.T)
    best = np.argmax(cover, 1)
    labelled = best < len(RHYTHM_CLASSES)
    full = cover[np.arange(len(best)), best] == width
    keep = labelled & (full if p['straddle'] == 'drop' else True)
    # Dropped windows touching unlabelled signal (before the first rhythm annotation or in an
    # unknown rhythm) count as 'unlabelled', the others spanned a rhythm change.
    unlabelled = cover[:, -1] > 0
    stats['dropped']['unlabelled'] = int((~keep & unlabelled).sum())
    stats['dropped']['straddle'] = int((~keep & ~unlabelled).sum())
    stats['counts'] = Counter(RHYTHM_CLASSES[c] for c in best[keep])
    plan.positions = win_start[keep]
    plan.samples = np.rint(win_start[keep] * down / up).astype(np.int64)
    plan.labels = best[keep].astype(np.int64)
    plan.stats = stats


def assign_records(p: Mapping[str, Any], available: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Records per split; whole records only, no record in two splits."""
    if p['split'] == 'de_chazal':
        validation = _check_validation_records(p['validation_records'])
        splits = {
            'train': tuple(r for r in DS1 if r not in validation),
            'validation': tuple(r for r in DS1 if r in validation),
            'test': DS2,
        }
    else:
        records = sorted(set(available))
        fractions = _check_fractions(p['split_fractions'])
        order = np.random.default_rng(p['split_seed']).permutation(len(records))
        n_val = round(fractions[1] * len(records))
        n_test = min(round(fractions[2] * len(records)), len(records) - n_val)
        shuffled = [records[i] for i in order]
        splits = {
            'train': tuple(sorted(shuffled[n_val + n_test :])),
            'validation': tuple(sorted(shuffled[:n_val])),
            'test': tuple(sorted(shuffled[n_val : n_val + n_test])),
        }
    seen: dict[str, str] = {}
    for split, records in splits.items():
        for record in records:
            if record in seen:
                raise AssertionError(f'record {record} is in both {seen[record]} and {split}')
            seen[record] = split
    if p['database'] == 'mitdb' and p['split'] == 'de_chazal':
        assert not set(seen) & set(PACED), 'paced records must be excluded'
    return splits


# --------------------------------------------------------------------------------------------
# TFDS builder.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class MitBihConfig(tfds.core.BuilderConfig):
    """Data parameters; build with ``MitBihConfig.create`` so the name (= cache directory)
    encodes every parameter that changes the data."""

    variant: str = DEFAULTS['variant']
    database: str = DEFAULTS['database']
    lead: str = DEFAULTS['lead']
    sample_rate: float = DEFAULTS['sample_rate']
    beat_before: float = DEFAULTS['beat_before']
    beat_after: float = DEFAULTS['beat_after']
    validation_records: str = DEFAULTS['validation_records']
    unknown_symbols: str = DEFAULTS['unknown_symbols']
    window_seconds: float = DEFAULTS['window_seconds']
    straddle: str = DEFAULTS['straddle']
    split: str = DEFAULTS['split']
    split_seed: int = DEFAULTS['split_seed']
    split_fractions: str = DEFAULTS['split_fractions']
    missing_lead: str = DEFAULTS['missing_lead']
    unmapped_beats: str = DEFAULTS['unmapped_beats']
    strict: bool = DEFAULTS['strict']
    rr_long_seconds: float = DEFAULTS['rr_long_seconds']
    record_norm: str = DEFAULTS['record_norm']
    bandpass: str = DEFAULTS['bandpass']
    bandpass_order: int = DEFAULTS['bandpass_order']

    @classmethod
    def create(cls, **params: Any) -> MitBihConfig:
        p = validate_params(params)
        for key in LOAD_TIME_KEYS:  # how the stored data are read, not what is stored
            del p[key]
        return cls(name=config_name(p), description=protocol(p), **p)

    @property
    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFAULTS if k not in LOAD_TIME_KEYS}

    @property
    def window(self) -> int:
        return window_length(self.params)

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.variant)


def protocol(p: Mapping[str, Any]) -> str:
    """One-paragraph description of the variant and split protocol."""
    if p['variant'] == 'beats':
        what = (
            f'AAMI EC57 beats (N S V F Q), lead {p["lead"]}, {p["beat_before"]:g} s before to '
            f'{p["beat_after"]:g} s after the R peak at {p["sample_rate"]:g} Hz, with RR '
            f'features (previous, next, local mean of 10 intervals, mean over '
            f'{p["rr_long_seconds"]:g} s, and their ratios: {" ".join(FEATURE_NAMES)}).'
        )
    else:
        what = (
            f'{p["window_seconds"]:g} s rhythm windows, lead {p["lead"]}, at '
            f'{p["sample_rate"]:g} Hz; windows spanning a rhythm change: {p["straddle"]}.'
        )
    if p['split'] == 'de_chazal':
        how = (
            'Inter-patient split of de Chazal et al. (2004): paced 102 104 107 217 excluded; '
            f'train = DS1 minus validation records {p["validation_records"]}; test = DS2.'
        )
    else:
        how = (
            f'Record-level split, seed {p["split_seed"]}, fractions train,validation,test = '
            f'{p["split_fractions"]}.'
        )
    return f'{p["database"]}: {what} {how}{_conditioning(p)}'


def _conditioning(p: Mapping[str, Any]) -> str:
    """The protocol's words on the per-record signal conditioning ('' where there is none)."""
    steps = []
    if p['bandpass']:
        low, high = preprocess.parse_bandpass(p['bandpass'])
        what = f'{low:g}-{high:g} Hz band-pass' if low else f'{high:g} Hz low-pass'
        steps.append(f'zero-phase Butterworth {what} (order {p["bandpass_order"]})')
    if p['record_norm'] != 'none':
        steps.append(f'{p["record_norm"]} normalisation')
    return f" Each record's lead, before windowing: {', then '.join(steps)}." if steps else ''


class MitBih(tfds_prep.LocalBuilder, skip_registration=True):
    """Beat or rhythm windows of a PhysioNet MIT-BIH-format database: tfds.builder('mitbih/beats')
    (tfds_prep.register) or ``load_builder`` (caching, locking, manual_dir from the config)."""

    name = 'mitbih'
    # Bump whenever the stored examples change, so stale caches are not reused; that includes a
    # changed default, since the defaults' configs are named 'beats' and 'rhythm' only.
    VERSION = tfds.core.Version('1.1.0')
    RELEASE_NOTES = {
        '1.0.0': 'AAMI beats with RR features and rhythm windows; de Chazal split.',
        '1.1.0': 'Nine RR features (long mean RR over rr_long_seconds, five ratios); record_norm '
        'and bandpass conditioning; strict=False drops annotations outside the signal and '
        'records without the lead, listed in the metadata under dropped.',
    }
    BUILDER_CONFIGS = [MitBihConfig.create(variant='beats'), MitBihConfig.create(variant='rhythm')]
    # Needed for dl_manager.manual_dir; without a manual dir the files are downloaded.
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        'Optional: put the database files (RECORDS and <record>.hea/.dat/.atr, e.g. from '
        'https://physionet.org/content/mitdb/1.0.0/) in one folder and pass it as manual_dir.'
    )

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        db = DATABASES.get(cfg.database, {})
        version = db.get('version', '1.0.0')
        features = {
            'signal': tfds.features.Tensor(shape=(cfg.window, 1), dtype=np.float32),
            'label': tfds.features.ClassLabel(names=cfg.class_names),
            'record': tfds.features.Text(),
            # Beats: R-peak sample; rhythm: window start; in the record's own sampling.
            'sample': tfds.features.Scalar(dtype=np.int64),
        }
        if cfg.variant == 'beats':
            features['rr'] = tfds.features.Tensor(shape=(len(FEATURE_NAMES),), dtype=np.float32)
            features['symbol'] = tfds.features.Text()
        # Stored in record order (then time): splits stay auditable; the trainer shuffles batches.
        return self.dataset_info(
            features,
            description=f'{db.get("title", cfg.database)}. {protocol(cfg.params)}',
            homepage=f'https://physionet.org/content/{cfg.database}/{version}/',
            citation=db.get('citation', _PHYSIONET),
            license=db.get('license', f'see https://physionet.org/content/{cfg.database}/'),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        p = self.builder_config.params
        root, available = self._source(dl_manager)
        records = assign_records(p, available)
        t0 = time.perf_counter()
        plans, skipped = {}, []
        for split in SPLITS:
            plans[split] = []
            for record in records[split]:
                plan = plan_record(root, record, p)
                if plan is None:
                    skipped.append(record)
                    logging.warning('mitbih: record %s has no lead %s: skipped', record, p['lead'])
                else:
                    plans[split].append(plan)
        self.info.metadata.update(self._summary(p, root, records, plans, skipped))
        logging.info(
            'mitbih: planned %s in %.1fs', self.builder_config.name, time.perf_counter() - t0
        )
        # TFDS cannot store an empty split: leave it out (load() then names the culprit).
        sizes = {split: sum(len(plan.labels) for plan in plans[split]) for split in SPLITS}
        for split in SPLITS:
            if not sizes[split]:
                logging.warning('mitbih: split %s has no examples; not stored', split)
        return {s: self._generate_examples(root, plans[s]) for s in SPLITS if sizes[s]}

    def _source(self, dl_manager) -> tuple[str, list[str]]:
        """Folder with the WFDB files and the database's record names."""
        manual = tfds_prep.given_manual_dir(dl_manager)  # '' = download
        if manual and list_records(manual):
            return manual, list_records(manual)
        return self._download(dl_manager)

    def _download(self, dl_manager) -> tuple[str, list[str]]:
        """Downloads RECORDS and the needed records from physionet.org; wfdb needs the files
        under their own names in one folder, so they are copied out of TFDS's download dir."""
        database = self.builder_config.database
        version = DATABASES.get(database, {}).get('version', '1.0.0')
        base = f'https://physionet.org/files/{database}/{version}/'
        records_path = dl_manager.download(base + 'RECORDS')
        available = [line.strip() for line in epath.Path(records_path).read_text().splitlines()]
        available = [r for r in available if r]
        needed = [
            r for rs in assign_records(self.builder_config.params, available).values() for r in rs
        ]
        names = [f'{r}.{ext}' for r in needed for ext in ('hea', 'dat', 'atr')]
        paths = dl_manager.download({name: base + name for name in names})
        root = epath.Path(dl_manager.download_dir) / f'{database}-{version}-wfdb'
        root.mkdir(parents=True, exist_ok=True)
        for name, path in {'RECORDS': records_path, **paths}.items():
            if not (root / name).exists():
                shutil.copyfile(os.fspath(path), os.fspath(root / name))
        return os.fspath(root), available

    def _summary(self, p, root, records, plans, skipped) -> dict[str, Any]:
        """JSON-able provenance and per-split counts (stored as the dataset's metadata)."""
        cfg = self.builder_config
        db = DATABASES.get(cfg.database, {})
        version = db.get('version', '1.0.0')
        stats: dict[str, dict[str, dict[str, int]]] = {}
        # Per split: 'counts' and 'dropped_edge' per class, 'skipped_unmapped' per symbol
        # (beats); 'counts' per class, 'dropped' per reason, 'unknown_rhythms' (rhythm).
        keys = _STAT_KEYS[cfg.variant]
        for split in SPLITS:
            total = {key: Counter() for key in keys}
            for plan in plans[split]:
                for key, counter in plan.stats.items():
                    total[key].update(counter)
            stats[split] = {}
            for key in keys:
                names = {'counts': cfg.class_names, 'dropped_edge': cfg.class_names}.get(
                    key, ('straddle', 'unlabelled') if key == 'dropped' else sorted(total[key])
                )
                stats[split][key] = {str(n): int(total[key][n]) for n in names}
        summary: dict[str, Any] = {
            'database': cfg.database,
            'variant': cfg.variant,
            'config': cfg.name,
            'source': f'https://physionet.org/files/{cfg.database}/{version}/',
            'read_from': os.fspath(root),
            'license': db.get('license', 'see PhysioNet'),
            'citation': db.get('citation', _PHYSIONET),
            'protocol': protocol(p),
            'records': {s: list(records[s]) for s in SPLITS},
            'skipped_records': skipped,
            'dropped': _dropped(cfg.variant, plans, skipped),
            'class_names': list(cfg.class_names),
            'splits': stats,
        }
        if cfg.variant == 'beats' and cfg.database == 'mitdb' and cfg.split == 'de_chazal':
            summary['published'] = _published_check(stats, skipped)
        for split in SPLITS:
            logging.info('mitbih/%s %s: %s', cfg.variant, split, json.dumps(stats[split]))
        return summary

    def _generate_examples(self, root: str, plans: list[RecordPlan]) -> Iterator[tuple[str, dict]]:
        from scipy import signal as sps

        cfg = self.builder_config
        band = preprocess.parse_bandpass(cfg.bandpass)
        offsets = np.arange(cfg.window)  # plan positions are window starts
        for plan in plans:
            x = read_lead(root, plan.record, plan.channel, plan.sig_len)
            x = preprocess.condition(x, plan.fs, cfg.record_norm, band, cfg.bandpass_order)
            if (plan.up, plan.down) != (1, 1):
                x = sps.resample_poly(x, plan.up, plan.down)
            windows = x.astype(np.float32)[plan.positions[:, None] + offsets][..., None]
            for i in range(len(plan.labels)):
                example = {
                    'signal': windows[i],
                    'label': int(plan.labels[i]),
                    'record': plan.record,
                    'sample': int(plan.samples[i]),
                }
                if plan.rr is not None:
                    example['rr'] = plan.rr[i]
                    example['symbol'] = plan.symbols[i]
                yield f'{plan.record}-{i:06d}', example


def _dropped(variant: str, plans, skipped) -> dict[str, Any]:
    """What the reader left out, per record: whole records without the lead, annotations
    outside the signal (strict=False) and, for beats, beats whose window runs off the record."""
    every = [plan for split in SPLITS for plan in plans[split]]
    out: dict[str, Any] = {
        'records_without_lead': list(skipped),
        'annotations_outside_signal': {p.record: p.outside for p in every if p.outside},
    }
    if variant == 'beats':
        edge = {p.record: sum(p.stats['dropped_edge'].values()) for p in every}
        out['beats_off_record'] = {record: n for record, n in edge.items() if n}
        if out['beats_off_record']:
            logging.info('mitbih: beats off the record, dropped: %s', out['beats_off_record'])
    return out


def _published_check(stats, skipped) -> dict[str, Any]:
    """Stored AAMI counts vs de Chazal's totals less the beats dropped at record edges."""
    out: dict[str, Any] = {}
    for ds, splits in (('DS1', ('train', 'validation')), ('DS2', ('test',))):
        stored = {c: sum(stats[s]['counts'][c] for s in splits) for c in AAMI_CLASSES}
        dropped = {c: sum(stats[s]['dropped_edge'][c] for s in splits) for c in AAMI_CLASSES}
        match = all(stored[c] == PUBLISHED[ds][c] - dropped[c] for c in AAMI_CLASSES)
        out[ds] = {
            'published': PUBLISHED[ds],
            'dropped_edge': dropped,
            'stored': stored,
            'match': match,
        }
        if not match and not skipped:
            logging.warning(
                'mitbih: %s counts %s != published %s - dropped %s',
                ds,
                stored,
                PUBLISHED[ds],
                dropped,
            )
    return out


# --------------------------------------------------------------------------------------------
# Preparing and reading the stored splits.
# --------------------------------------------------------------------------------------------


def load_builder(params: Mapping[str, Any], data_dir: str) -> MitBih:
    """Returns a prepared builder, preparing only if the config is not cached yet (once, under
    a file lock: tfds_prep.prepare); WFDB files from manual_dir, else downloaded."""
    p = validate_params(params)
    manual_dir = p['manual_dir']
    if manual_dir:
        manual_dir = os.path.abspath(os.path.expanduser(manual_dir))
        if not os.path.isdir(manual_dir) or not list_records(manual_dir):
            raise ValueError(
                f'config.data.manual_dir={p["manual_dir"]!r}: no folder of WFDB records '
                '(RECORDS or *.hea files) there'
            )
    download_config = tfds_prep.download_config(manual_dir)
    return tfds_prep.prepare_config(MitBih, MitBihConfig.create(**p), data_dir, download_config)[0]


def read_split(builder: MitBih, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A whole split as {'x': float32 (N, T, 1), 'y': int32 (N,)[, 'features': (N, F)]}, F =
    len(FEATURE_NAMES) for beats, as stored (the loader's feature_norm comes after), and each
    example's record name."""
    arrays, columns = tfds_prep.read_arrays(builder, split, extra=(('features', 'rr', np.float32),))
    return arrays, np.asarray(columns['record']).astype(str)


# --------------------------------------------------------------------------------------------
# The data protocol (ecgdepth/data/base.py: DatasetModule).
# --------------------------------------------------------------------------------------------


task = base.classification_task


def check(config: Any, task: str) -> None:
    """The parameters' values and cross-field rules, then the task (classification only)."""
    chosen_features(params_from_config(config.data))
    base.require_classification(NAME, task)


def scores(data_config: Any) -> dict[str, tuple[str, ...]]:
    """The AAMI four-class macro-F1 for beats; none for rhythm windows."""
    return dict(BEAT_SCORES) if params_from_config(data_config)['variant'] == 'beats' else {}


def chosen_features(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The side features `features` names (all of FEATURE_NAMES if empty; none for rhythm)."""
    if params['variant'] != 'beats':
        return ()
    names = _csv(params['features'])
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ValueError(
            f'config.data.features: {unknown} are not RR features; choose from '
            f'{"+".join(FEATURE_NAMES)}.'
        )
    return names or FEATURE_NAMES


def input_spec(config: Any) -> base.InputSpec:
    params = params_from_config(config.data)
    features = len(chosen_features(params))
    names = class_names(params['variant'])
    channels = 1 if params['beat_reference'] == 'none' else 2
    return base.InputSpec(window_length(params), channels, len(names), features, False)


def load(data_config: Any) -> base.Dataset:
    """Registry loader for ``config.data.name == 'mitbih'``."""
    params = params_from_config(data_config)
    data_dir = base.resolve_data_dir(data_config.get('data_dir', ''))
    builder = load_builder(params, data_dir)
    missing = [split for split in SPLITS if split not in builder.info.splits]
    if missing:
        field = 'validation_records' if params['split'] == 'de_chazal' else 'split_fractions'
        raise ValueError(
            f'mitbih/{builder.builder_config.name}: no examples in split(s) {missing}; records '
            f'per split: {builder.info.metadata["records"]}. Check config.data.{field}.'
        )
    splits, records = {}, {}
    for split in SPLITS:
        splits[split], records[split] = read_split(builder, split)
    names = chosen_features(params)
    if params['variant'] == 'beats':
        columns = [FEATURE_NAMES.index(n) for n in names]
        splits = {s: {**a, 'features': a['features'][:, columns]} for s, a in splits.items()}
    if params['beat_reference'] == 'record_median':
        for split, arrays in splits.items():
            arrays['x'] = preprocess.relative_to_group_median(arrays['x'], records[split])
    cfg = builder.builder_config
    info = dict(builder.info.metadata)
    for split, arrays in splits.items():
        stats = info['splits'][split]
        dropped = stats.get('dropped_edge', stats.get('dropped', {}))
        counts = base.class_counts(arrays['y'], cfg.class_names, nonzero=True)
        dropped = {k: v for k, v in dropped.items() if v}
        base.log_split(f'mitbih/{cfg.variant}', split, arrays, f'{counts}; dropped {dropped}')
    return base.Dataset(
        splits=splits,
        class_names=cfg.class_names,
        sample_rate=params['sample_rate'],
        name=f'mitbih/{params["variant"]}',
        feature_names=names,
        info=info,
        scores=scores(data_config),
    )
