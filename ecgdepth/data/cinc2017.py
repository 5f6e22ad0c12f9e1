"""PhysioNet/CinC Challenge 2017 (AF from a short single-lead ECG) as a TFDS builder.

Why: the real-data counterpart of ``synthetic`` for the depth ablations. Recordings vary in
length (9-61 s), so every record becomes one fixed window plus a mask, and the mask travels with
the data so no model ever mistakes padding for signal.

Data: 8,528 AliveCor single-lead recordings, WFDB format 16 at 300 Hz, labelled N (normal sinus
rhythm), A (atrial fibrillation), O (other rhythm), ~ (too noisy). Upstream:
https://physionet.org/content/challenge-2017/1.0.0/.

Getting it: with ``manual_dir`` set, records and the reference file are read from that folder
(or its ``training2017/`` subfolder) and may be any subset of the labelled records; absent ones
are counted and reported. With ``manual_dir=''`` TFDS downloads ``training2017.zip`` and
``REFERENCE-v3.csv`` (the updated labels; the default ``reference='REFERENCE.csv'`` maps to it,
another name picks that file inside the zip's folder).

Windows: the signal (mV) is conditioned at 300 Hz (``bandpass`` 'low,high' Hz, zero-phase
Butterworth of ``bandpass_order``, then ``record_norm`` of the whole record:
ecgdepth/data/preprocess.py), then resampled to ``sample_rate`` (``scipy.signal.resample_poly``).
``windows='cover'`` (default): windows of ``window_seconds`` every ``(1 - window_overlap) *
window_seconds`` from the record's start, the last one ending at the record's end, so that
they cover the whole record; evaluation averages their logits and scores the record once
(its ``group``), as the challenge scored whole records. ``windows='one'``: one window,
cropped (``crop='start'`` or ``'center'``). A record shorter than a window gives one window,
zero-padded at the end, with a mask marking the padding.

Split protocol: stratified by label, one example per record (so no record is in two splits).
Within each class, records are ordered by SHA-256 of ``(split_seed, record)`` -- independent of
numpy versions -- and the first ``round(test_fraction * n)`` are test, the next
``round(validation_fraction * n)`` validation, the rest train. With ``num_folds >= 2`` the test
split is unchanged and the other records are dealt round-robin (continuing across classes) into
``num_folds`` stratified folds; fold ``fold`` is validation, the others train
(``validation_fraction`` is then unused). The split depends on which records are present; the
config name encodes that set (a digest of the reference file and the present record names).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from ecgdepth.data import base, preprocess, tfds_prep
from ecgdepth.data.base import SPLITS

NAME = 'cinc2017'
CLASS_NAMES = ('N', 'A', 'O', '~')
NATIVE_RATE = 300.0
SUBFOLDER = 'training2017'
PHYSIONET = 'https://physionet.org/files/challenge-2017/1.0.0/'
URLS = {'records': PHYSIONET + 'training2017.zip', 'reference': PHYSIONET + 'REFERENCE-v3.csv'}
HOMEPAGE = 'https://physionet.org/content/challenge-2017/1.0.0/'
# Not confirmed offline: PhysioNet lists its open challenge data under ODC-By 1.0.
LICENSE = 'ODC-By 1.0 per PhysioNet (verify on the project page before redistributing)'
CITATION = """\
@inproceedings{clifford2017af,
  title={{AF} Classification from a Short Single Lead {ECG} Recording: the
         {PhysioNet}/Computing in Cardiology Challenge 2017},
  author={Clifford, Gari D. and Liu, Chengyu and Moody, Benjamin and Lehman, Li-wei H. and
          Silva, Ikaro and Li, Qiao and Johnson, Alistair E. W. and Mark, Roger G.},
  booktitle={Computing in Cardiology},
  volume={44},
  year={2017},
  doi={10.22489/CinC.2017.065-469}
}
@article{goldberger2000physionet,
  title={{PhysioBank}, {PhysioToolkit}, and {PhysioNet}: Components of a New Research Resource
         for Complex Physiologic Signals},
  author={Goldberger, Ary L. and Amaral, Luis A. N. and Glass, Leon and Hausdorff, Jeffrey M.
          and Ivanov, Plamen Ch. and Mark, Roger G. and Mietus, Joseph E. and Moody, George B.
          and Peng, Chung-Kang and Stanley, H. Eugene},
  journal={Circulation},
  volume={101},
  number={23},
  pages={e215--e220},
  year={2000}
}"""
MISSING_EXAMPLES = 5  # absent record names quoted in the warning

# The data section's fields besides the common ones (base.COMMON_DEFAULTS), with defaults
# (the module docstring says what each does).
DEFAULTS: dict[str, Any] = {
    'manual_dir': '',  # Folder of the records and the reference csv; '' = download.
    'reference': 'REFERENCE.csv',  # The labels' file name.
    'sample_rate': 300.0,  # Hz of the stored windows (300 = native).
    'window_seconds': 30.0,  # Window length; shorter records are zero-padded (and masked).
    'windows': 'cover',  # 'cover': windows covering the record; 'one': one cropped window.
    'window_overlap': 0.5,  # windows='cover': fraction by which consecutive windows overlap.
    'crop': 'start',  # windows='one': where a longer record is cropped: 'start' or 'center'.
    'record_norm': 'none',  # 'none', 'zscore' or 'median_mad' of the whole record.
    'bandpass': '',  # '' = off, or 'low,high' in Hz (low 0 = low-pass); below 150 Hz.
    'bandpass_order': 2,  # Butterworth order (applied forward and backward: zero phase).
    'split_seed': 0,  # Orders the records per class before the split.
    'validation_fraction': 0.15,  # Of each class (num_folds = 0).
    'test_fraction': 0.15,  # Of each class.
    'num_folds': 0,  # 0 = off, else stratified folds of the non-test records ...
    'fold': 0,  # ... of which this one is validation.
}
# Each field of its default's type; validate_params checks values and cross-field rules.
RULES = base.typed(DEFAULTS)
# `runlocal`: a quick evaluation on short windows at 100 Hz.
RUNLOCAL: dict[str, dict[str, Any]] = {
    '*': {
        'data.max_eval_examples': 256,
        'data.sample_rate': 100.0,
        'data.window_seconds': 10.0,
    },
}
CROPS = ('start', 'center')
WINDOWINGS = ('cover', 'one')
# The benchmark's score: the challenge's mean F1 of N, A and O (Clifford et al. 2017).
SCORES = {'challenge_f1': ('N', 'A', 'O')}


# --------------------------------------------------------------------------------------------
# Parameters.
# --------------------------------------------------------------------------------------------


def resample_ratio(sample_rate: float) -> tuple[int, int]:
    """(up, down) with sample_rate = 300 * up / down, or ValueError if not a simple ratio."""
    ratio = Fraction(sample_rate / NATIVE_RATE).limit_denominator(1000)
    if abs(float(ratio) * NATIVE_RATE - sample_rate) > 1e-9 * sample_rate:
        raise ValueError(
            f'config.data.sample_rate={sample_rate!r} is not 300 Hz times a ratio p/q with '
            'q <= 1000 (needed for polyphase resampling)'
        )
    return ratio.numerator, ratio.denominator


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults, coerce types and reject values that cannot produce a valid dataset."""
    p = base.coerce_params(
        params,
        DEFAULTS,
        'cinc2017',
        {'manual_dir': base.optional_text, 'bandpass': base.optional_text},
    )
    ref = p['reference']
    if not ref or os.sep in ref or ref in ('.', '..'):
        raise ValueError(f'config.data.reference must be a file name, got {ref!r}')
    if not 50.0 <= p['sample_rate'] <= 1000.0:
        raise ValueError(
            f'config.data.sample_rate must be in [50, 1000] Hz, got {p["sample_rate"]}'
        )
    resample_ratio(p['sample_rate'])
    if not (p['window_seconds'] > 0 and math.isfinite(p['window_seconds'])):
        raise ValueError(f'config.data.window_seconds must be > 0, got {p["window_seconds"]}')
    if window_length(p) < 1:
        raise ValueError('config.data.window_seconds * config.data.sample_rate must be >= 1 sample')
    if p['crop'] not in CROPS:
        raise ValueError(f'config.data.crop must be one of {CROPS}, got {p["crop"]!r}')
    if p['record_norm'] not in preprocess.RECORD_NORMS:
        raise ValueError(
            f'config.data.record_norm must be one of {preprocess.RECORD_NORMS}, got '
            f'{p["record_norm"]!r}'
        )
    band = preprocess.parse_bandpass(p['bandpass'])
    preprocess.check_band(band, NATIVE_RATE, 'the CinC 2017 records')
    p['bandpass'] = preprocess.band_text(band)
    if not 1 <= p['bandpass_order'] <= 8:
        raise ValueError(
            f'config.data.bandpass_order must be an integer in [1, 8], got {p["bandpass_order"]}'
        )
    if p['windows'] not in WINDOWINGS:
        raise ValueError(f'config.data.windows must be one of {WINDOWINGS}, got {p["windows"]!r}')
    if not 0.0 <= p['window_overlap'] < 1.0:
        raise ValueError(f'config.data.window_overlap must be in [0, 1), got {p["window_overlap"]}')
    if p['split_seed'] < 0:
        raise ValueError(f'config.data.split_seed must be >= 0, got {p["split_seed"]}')
    if not 0.0 < p['test_fraction'] < 1.0:
        raise ValueError(f'config.data.test_fraction must be in (0, 1), got {p["test_fraction"]}')
    k, fold = p['num_folds'], p['fold']
    if k == 1 or k < 0:
        raise ValueError(f'config.data.num_folds must be 0 (off) or >= 2, got {k}')
    if k == 0:
        vf = p['validation_fraction']
        if not 0.0 < vf < 1.0:
            raise ValueError(f'config.data.validation_fraction must be in (0, 1), got {vf}')
        if vf + p['test_fraction'] >= 1.0:
            raise ValueError(
                'config.data.validation_fraction + config.data.test_fraction must be < 1, got '
                f'{vf} + {p["test_fraction"]}'
            )
        if fold != 0:
            raise ValueError(f'config.data.fold={fold} needs config.data.num_folds >= 2')
    elif not 0 <= fold < k:
        raise ValueError(f'config.data.fold must be in [0, num_folds={k}), got {fold}')
    return p


def params_from_config(data_config: Any) -> dict[str, Any]:
    """Picks this dataset's parameters out of ``config.data`` (missing keys -> DEFAULTS)."""
    return validate_params(base.pick_params(data_config, DEFAULTS))


def window_length(params: Mapping[str, Any]) -> int:
    return int(round(params['window_seconds'] * params['sample_rate']))


def config_name(params: Mapping[str, Any], source: str) -> str:
    """Cache-directory name encoding every parameter that changes the data; ``source`` says
    where the records come from (``physionet`` or ``manual-<digest of labels and records>``)."""
    p = validate_params({k: v for k, v in params.items() if k in DEFAULTS})
    if p['windows'] == 'cover':
        windows = f'cover{p["window_overlap"]!r}'
    else:
        windows = p['crop']
    name = (
        f'fs{p["sample_rate"]!r}-w{p["window_seconds"]!r}-{windows}-seed{p["split_seed"]}'
        f'-test{p["test_fraction"]!r}'
    )
    if p['bandpass']:
        name += f'-bp{p["bandpass"].replace(",", "-")}-o{p["bandpass_order"]}'
    if p['record_norm'] != 'none':
        name += f'-{p["record_norm"].replace("_", "")}'
    if p['num_folds']:
        name += f'-kfold{p["num_folds"]}-fold{p["fold"]}'
    else:
        name += f'-val{p["validation_fraction"]!r}'
    if source == 'physionet' and p['reference'] != DEFAULTS['reference']:
        source += '-' + ''.join(c if c.isalnum() else '_' for c in p['reference'])
    return f'{name}-{source}'


# --------------------------------------------------------------------------------------------
# Labels and which records are present.
# --------------------------------------------------------------------------------------------


def read_reference(path: os.PathLike | str) -> dict[str, str]:
    """Record name -> label from a REFERENCE csv (``name,label`` per line).

    A header line (e.g. ``data_source,class``, added by some mirrors) is skipped; anything
    else that is not a valid row raises ValueError naming the file and line.
    """
    path = epath.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'CinC 2017 reference file not found: {path}')
    labels: dict[str, str] = {}
    lines = path.read_bytes().decode('utf-8-sig').splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(',')]
        if lineno == 1 and len(fields) == 2 and fields[1] not in CLASS_NAMES:
            if fields[1].isidentifier() and len(fields[1]) > 1:  # a header, not a bad label
                continue
        problem = None
        if len(fields) != 2:
            problem = f'expected 2 comma-separated fields, got {len(fields)}'
        elif not fields[0] or '/' in fields[0] or os.sep in fields[0]:
            problem = f'bad record name {fields[0]!r}'
        elif fields[1] not in CLASS_NAMES:
            problem = f'unknown label {fields[1]!r} (expected one of {CLASS_NAMES})'
        elif fields[0] in labels:
            problem = f'duplicate record {fields[0]!r}'
        if problem:
            raise ValueError(f'{path}, line {lineno}: {problem}: {line!r}')
        labels[fields[0]] = fields[1]
    if not labels:
        raise ValueError(f'{path}: no labelled records')
    return labels


@dataclasses.dataclass(frozen=True)
class Scan:
    """What a folder holds: labels of the present records and the labelled-but-absent names."""

    folder: epath.Path
    reference: epath.Path
    labels: dict[str, str]  # present records only, in reference order
    missing: tuple[str, ...]
    digest: str  # of the reference file's bytes and the present names: identifies the data

    @property
    def num_labelled(self) -> int:
        return len(self.labels) + len(self.missing)


def find_folder(root: os.PathLike | str, marker: str) -> epath.Path:
    """``root`` if it holds ``marker``, else its ``training2017/`` subfolder if that does."""
    root = epath.Path(os.path.expanduser(os.fspath(root)))
    if not root.is_dir():
        raise FileNotFoundError(f'CinC 2017 folder not found: {root}')
    for folder in (root, root / SUBFOLDER):
        if (folder / marker).is_file():
            return folder
    raise FileNotFoundError(f'No {marker} in {root} or {root / SUBFOLDER}')


def scan_folder(folder: os.PathLike | str, reference: os.PathLike | str) -> Scan:
    """Finds which labelled records are on disk (a ``.hea`` plus a ``.mat`` or ``.dat``)."""
    folder = epath.Path(folder)
    reference = epath.Path(reference)
    labels = read_reference(reference)
    files = set(os.listdir(folder))
    present, missing = {}, []
    for name, label in labels.items():
        if f'{name}.hea' in files and (f'{name}.mat' in files or f'{name}.dat' in files):
            present[name] = label
        else:
            missing.append(name)
    if not present:
        raise ValueError(
            f'No CinC 2017 records in {folder}: none of the {len(labels)} records labelled in '
            f'{reference.name} has both <name>.hea and <name>.mat there'
        )
    h = hashlib.sha256(reference.read_bytes())
    h.update('\n'.join(present).encode())
    return Scan(folder, reference, present, tuple(missing), h.hexdigest()[:12])


def warn_missing(num_missing: int, num_labelled: int, examples: list[str], folder: str) -> None:
    if num_missing:
        logging.warning(
            'cinc2017: %d of %d labelled records are absent from %s and were skipped (e.g. %s)',
            num_missing,
            num_labelled,
            folder,
            ', '.join(examples[:MISSING_EXAMPLES]),
        )


# --------------------------------------------------------------------------------------------
# Records and windows.
# --------------------------------------------------------------------------------------------


def read_record(folder: os.PathLike | str, name: str) -> np.ndarray:
    """One record's signal in mV, float32 (length,), at 300 Hz.

    Reads format-16 samples directly, not through ``wfdb.rdrecord`` (this is preparation's hot
    loop), after checking the file size against the header, so a truncated or mismatched record
    fails loudly.
    """
    import wfdb

    folder = epath.Path(folder)
    hea = folder / f'{name}.hea'
    try:
        header = wfdb.rdheader(os.fspath(folder / name))
    except Exception as e:
        raise ValueError(f'{hea}: unreadable WFDB header ({e})') from e
    problem = None
    if header.n_sig != 1:
        problem = f'{header.n_sig} signals, expected 1 lead'
    elif not header.fs or abs(float(header.fs) - NATIVE_RATE) > 1e-6:
        problem = f'sampling frequency {header.fs}, expected {NATIVE_RATE:g} Hz'
    elif header.fmt[0] != '16':
        problem = f'WFDB format {header.fmt[0]!r}, expected 16'
    elif not header.sig_len:
        problem = 'no signal length'
    if problem:
        raise ValueError(f'{hea}: {problem}')
    data = folder / header.file_name[0]
    offset = int(header.byte_offset[0] or 0)
    expected = offset + 2 * int(header.sig_len)
    try:
        size = data.stat().length
    except FileNotFoundError as e:
        raise ValueError(f'{data}: signal file named by {hea} is missing') from e
    if size != expected:
        raise ValueError(
            f'{data}: {size} bytes, but {hea} implies {expected} ({header.sig_len} format-16 '
            f'samples after a {offset}-byte prefix): truncated or mismatched record'
        )
    digital = np.fromfile(os.fspath(data), dtype='<i2', offset=offset)
    gain = float(header.adc_gain[0] or 200.0)  # WFDB: gain 0 means the default 200
    baseline = float(header.baseline[0] or 0)
    return ((digital.astype(np.float32) - baseline) / gain).astype(np.float32)


def resample(signal: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """The record conditioned (band-pass, normalisation) at 300 Hz, then at ``sample_rate``,
    float32 (length,)."""
    from scipy import signal as sps

    up, down = resample_ratio(params['sample_rate'])
    band = preprocess.parse_bandpass(params['bandpass'])
    x = np.asarray(signal, np.float32)
    if band is not None or params['record_norm'] != 'none':
        x = preprocess.condition(
            x, NATIVE_RATE, params['record_norm'], band, params['bandpass_order']
        ).astype(np.float32)
    if (up, down) != (1, 1):
        x = sps.resample_poly(x.astype(np.float64), up, down).astype(np.float32)
    return x


def window_starts(length: int, params: Mapping[str, Any]) -> list[int]:
    """Where each window of a resampled record of `length` samples starts (module doc)."""
    size = window_length(params)
    if length <= size:
        return [0]
    if params['windows'] == 'one':
        return [(length - size) // 2 if params['crop'] == 'center' else 0]
    hop = max(1, round(size * (1.0 - params['window_overlap'])))
    starts = list(range(0, length - size + 1, hop))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def make_windows(signal: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Resample, then cut the record's windows -> (float32 (n, T, 1), bool mask (n, T))."""
    x = resample(signal, params)
    size = window_length(params)
    starts = window_starts(len(x), params)
    out = np.zeros((len(starts), size, 1), np.float32)
    mask = np.zeros((len(starts), size), bool)
    for i, start in enumerate(starts):
        piece = x[start : start + size]
        out[i, : len(piece), 0] = piece
        mask[i, : len(piece)] = True
    return out, mask


def make_window(signal: np.ndarray, params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The first window of `make_windows` with windows='one' -> (float32 (T, 1), bool (T,))."""
    x, mask = make_windows(signal, {**params, 'windows': 'one'})
    return x[0], mask[0]


# --------------------------------------------------------------------------------------------
# Split.
# --------------------------------------------------------------------------------------------


def _order_key(seed: int, name: str) -> bytes:
    return hashlib.sha256(f'cinc2017:{seed}:{name}'.encode()).digest()


def assign_splits(labels: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Split name -> sorted record names; stratified by label (see the module docstring)."""
    p = validate_params({k: v for k, v in params.items() if k in DEFAULTS})
    k, offset = p['num_folds'], 0
    out: dict[str, list[str]] = {split: [] for split in SPLITS}
    for label in CLASS_NAMES:
        names = sorted(
            (n for n, lab in labels.items() if lab == label),
            key=lambda n: _order_key(p['split_seed'], n),
        )
        n_test = math.floor(p['test_fraction'] * len(names) + 0.5)
        out['test'] += names[:n_test]
        rest = names[n_test:]
        if k:
            for j, name in enumerate(rest):
                fold = (offset + j) % k
                out['validation' if fold == p['fold'] else 'train'].append(name)
            offset += len(rest)
        else:
            n_val = math.floor(p['validation_fraction'] * len(names) + 0.5)
            out['validation'] += rest[:n_val]
            out['train'] += rest[n_val:]
    empty = [split for split in SPLITS if not out[split]]
    if empty:
        raise ValueError(
            f'cinc2017: {len(labels)} records are too few for the split, {empty} would be empty'
        )
    return {split: sorted(names) for split, names in out.items()}


def class_counts(names: list[str], labels: Mapping[str, str]) -> dict[str, int]:
    return {c: sum(labels[n] == c for n in names) for c in CLASS_NAMES}


def split_protocol(params: Mapping[str, Any]) -> str:
    p = params
    head = (
        f'Stratified by label, by record; records ordered per class by '
        f'SHA-256(split_seed={p["split_seed"]}, record); test = first '
        f'{p["test_fraction"]:g} of each class'
    )
    if p['num_folds']:
        return (
            f'{head}; the rest dealt round-robin into {p["num_folds"]} stratified folds, '
            f'validation = fold {p["fold"]}, train = the other folds.'
        )
    return f'{head}; validation = next {p["validation_fraction"]:g}; train = the rest.'


# --------------------------------------------------------------------------------------------
# TFDS builder.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Cinc2017Config(tfds.core.BuilderConfig):
    """Windowing and split parameters plus the data source; build with ``create`` so the name
    (= cache directory) encodes everything that changes the data."""

    source: str = 'physionet'
    reference: str = DEFAULTS['reference']
    sample_rate: float = DEFAULTS['sample_rate']
    window_seconds: float = DEFAULTS['window_seconds']
    windows: str = DEFAULTS['windows']
    window_overlap: float = DEFAULTS['window_overlap']
    crop: str = DEFAULTS['crop']
    record_norm: str = DEFAULTS['record_norm']
    bandpass: str = DEFAULTS['bandpass']
    bandpass_order: int = DEFAULTS['bandpass_order']
    split_seed: int = DEFAULTS['split_seed']
    validation_fraction: float = DEFAULTS['validation_fraction']
    test_fraction: float = DEFAULTS['test_fraction']
    num_folds: int = DEFAULTS['num_folds']
    fold: int = DEFAULTS['fold']

    @classmethod
    def create(cls, source: str = 'physionet', **params: Any) -> Cinc2017Config:
        p = validate_params(params)
        del p['manual_dir']  # where the files are is not part of the data; `source` is
        return cls(
            name=config_name(p, source),
            description=split_protocol(p),
            source=source,
            **p,
        )

    @property
    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFAULTS if k != 'manual_dir'}


class Cinc2017(tfds_prep.LocalBuilder, skip_registration=True):
    """CinC 2017 windows: tfds.builder('cinc2017') (tfds_prep.register; the default config
    downloads, or reads a manual_dir) or ``load_builder`` (config, caching and locking)."""

    name = 'cinc2017'
    # Bump whenever the windows or the split change, so stale caches are not reused.
    VERSION = tfds.core.Version('1.1.0')
    RELEASE_NOTES = {
        '1.0.0': 'Single-lead windows with padding mask; stratified splits.',
        '1.1.0': 'Windows covering each record (windows="cover"), keyed record-window; '
        'record_norm and bandpass conditioning.',
    }
    BUILDER_CONFIGS = [Cinc2017Config.create()]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f'Download training2017.zip from {HOMEPAGE}, extract it and pass the folder holding '
        'the A*.hea/A*.mat records and the reference csv (or its parent) as manual_dir.'
    )

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        length = window_length(cfg.params)
        features = {
            'signal': tfds.features.Tensor(
                shape=(length, 1), dtype=np.float32, encoding=tfds.features.Encoding.BYTES
            ),
            'mask': tfds.features.Tensor(
                shape=(length,), dtype=np.bool_, encoding=tfds.features.Encoding.BYTES
            ),
            'label': tfds.features.ClassLabel(names=CLASS_NAMES),
            'record': tfds.features.Text(),
        }
        # Stored sorted by record name: index <-> record is predictable.
        return self.dataset_info(
            features,
            description=(
                f'{__doc__}\nThis config: {cfg.description}\nSource: {cfg.source}. '
                f'Licence: {LICENSE}. Per-split class counts: metadata["counts"].'
            ),
            homepage=HOMEPAGE,
            citation=CITATION,
            license=LICENSE,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        # A physionet config given a manual_dir (tfds.builder('cinc2017') with TFDS's
        # DownloadConfig) reads the files from there, as the TFDS convention goes.
        manual = tfds_prep.given_manual_dir(dl_manager)
        if cfg.source == 'physionet' and not manual:
            paths = dl_manager.download_and_extract(URLS)
            folder = find_folder(paths['records'], 'RECORDS')
            use_v3 = cfg.reference == DEFAULTS['reference']
            reference = paths['reference'] if use_v3 else folder / cfg.reference
        else:
            folder = find_folder(dl_manager.manual_dir, cfg.reference)
            reference = folder / cfg.reference
        scan = scan_folder(folder, reference)
        if cfg.source != 'physionet' and cfg.source != f'manual-{scan.digest}':
            raise RuntimeError(f'{folder} changed while preparing cinc2017 ({cfg.source})')
        source = f'manual-{scan.digest}' if manual else cfg.source
        splits = assign_splits(scan.labels, cfg.params)
        warn_missing(len(scan.missing), scan.num_labelled, list(scan.missing), os.fspath(folder))
        self.info.metadata.update(
            {
                'counts': {s: class_counts(names, scan.labels) for s, names in splits.items()},
                'num_labelled': scan.num_labelled,
                'num_present': len(scan.labels),
                'num_missing': len(scan.missing),
                'missing_examples': list(scan.missing[:MISSING_EXAMPLES]),
                'reference': reference.name,
                'folder': os.fspath(folder),
                'source': source,
                'split_protocol': split_protocol(cfg.params),
                'license': LICENSE,
            }
        )
        return {
            split: self._generate_examples(folder, names, scan.labels)
            for split, names in splits.items()
        }

    def _generate_examples(
        self, folder: epath.Path, names: list[str], labels: Mapping[str, str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        params = self.builder_config.params
        for name in names:
            signals, masks = make_windows(read_record(folder, name), params)
            for j, (signal, mask) in enumerate(zip(signals, masks, strict=True)):
                example = {'signal': signal, 'mask': mask, 'label': labels[name], 'record': name}
                yield f'{name}-{j:03d}', example


# --------------------------------------------------------------------------------------------
# Preparing and reading the stored splits.
# --------------------------------------------------------------------------------------------


def load_builder(params: Mapping[str, Any], data_dir: str) -> tuple[Cinc2017, bool]:
    """Returns ``(prepared builder, whether it was prepared just now)``.

    With ``manual_dir``, the folder is scanned first (cheap) so the config name identifies the
    records present. Preparation happens once, under a file lock (tfds_prep.prepare).
    """
    p = validate_params(params)
    if p['manual_dir']:
        folder = find_folder(p['manual_dir'], p['reference'])
        scan = scan_folder(folder, folder / p['reference'])
        assign_splits(scan.labels, p)  # fail before any work if a split would be empty
        source, manual_dir = f'manual-{scan.digest}', os.fspath(folder)
    else:
        source, manual_dir = 'physionet', ''
    cfg = Cinc2017Config.create(source=source, **p)
    return tfds_prep.prepare_config(Cinc2017, cfg, data_dir, tfds_prep.download_config(manual_dir))


def read_split(builder: Cinc2017, split: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Reads a whole split -> ({'x': float32 (N, T, 1), 'y': int32 (N,), 'mask': bool (N, T),
    'group': int32 (N,)}, the split's record names): window i is of record names[group[i]]."""
    arrays, columns = tfds_prep.read_arrays(builder, split, extra=(('mask', 'mask', bool),))
    records = [r.decode() if isinstance(r, bytes) else str(r) for r in columns['record']]
    names, group = np.unique(np.asarray(records), return_inverse=True)
    # Windows in record order, so that window i of a record follows window i - 1.
    order = np.argsort(group, kind='stable')
    arrays = {key: value[order] for key, value in arrays.items()}
    arrays['group'] = group[order].astype(np.int32)
    return arrays, names.tolist()


# --------------------------------------------------------------------------------------------
# The data protocol (ecgdepth/data/base.py: DatasetModule).
# --------------------------------------------------------------------------------------------


task = base.classification_task


def check(config: Any, task: str) -> None:
    """The parameters' values and cross-field rules, then the task (classification only)."""
    params_from_config(config.data)
    base.require_classification(NAME, task)


def scores(data_config: Any) -> dict[str, tuple[str, ...]]:
    """The challenge F1 (the benchmark's score)."""
    del data_config
    return dict(SCORES)


def input_spec(config: Any) -> base.InputSpec:
    """Windows of a record, padded where the record is shorter: they carry a mask."""
    params = params_from_config(config.data)
    return base.InputSpec(window_length(params), 1, len(CLASS_NAMES), 0, True)


def load(data_config: Any) -> base.Dataset:
    """Registry loader for ``config.data.name == 'cinc2017'``."""
    params = params_from_config(data_config)
    data_dir = base.resolve_data_dir(data_config.get('data_dir', ''))
    builder, prepared_now = load_builder(params, data_dir)
    meta = dict(builder.info.metadata)
    if not params['manual_dir'] and meta['source'] != 'physionet':
        logging.warning(
            'cinc2017: %s under %s holds the records of %s (a TFDS manual_dir), not the '
            'PhysioNet download',
            builder.builder_config.name,
            data_dir,
            meta['folder'],
        )
    if not prepared_now:  # preparation already warned
        warn_missing(
            meta['num_missing'],
            meta['num_labelled'],
            meta['missing_examples'],
            meta.get('folder', params['manual_dir']),
        )
    splits, records = {}, {}
    for split in SPLITS:
        splits[split], records[split] = read_split(builder, split)
        counts = base.class_counts(splits[split]['y'], CLASS_NAMES)
        base.log_split(NAME, split, splits[split], counts)
    return base.Dataset(
        splits=splits,
        class_names=CLASS_NAMES,
        sample_rate=params['sample_rate'],
        name=NAME,
        info=_info(builder, meta, data_dir, records, window_length(params)),
        scores=SCORES,
    )


def _info(builder: Cinc2017, meta: dict, data_dir: str, records: dict, window: int) -> dict:
    """The loaded dataset's provenance: where it came from, its split and its counts."""
    return {
        'config': builder.builder_config.name,
        'data_dir': data_dir,
        'homepage': HOMEPAGE,
        'license': LICENSE,
        'citation': CITATION,
        'split_protocol': meta['split_protocol'],
        'counts': meta['counts'],
        'num_labelled': meta['num_labelled'],
        'num_present': meta['num_present'],
        'missing_records': meta['num_missing'],
        'missing_examples': meta['missing_examples'],
        'reference': meta['reference'],
        'folder': meta.get('folder', ''),
        'source': meta['source'],
        'records': records,
        'window': window,
    }
