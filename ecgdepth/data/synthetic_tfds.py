"""The synthetic data's TFDS builder: `synthetic.generate`'s splits prepared once and read back.

Apart from ecgdepth/data/synthetic.py so that building and checking a synthetic config (its
DEFAULTS, RULES, check) imports no TFDS; `synthetic.load` imports this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from ecgdepth.data import synthetic_signals as synthetic
from ecgdepth.data import tfds_prep
from ecgdepth.data.base import SPLITS

DEFAULTS = synthetic.DEFAULTS


@dataclasses.dataclass(eq=False)
class SyntheticEcgConfig(tfds.core.BuilderConfig):
    """Generation parameters; build with ``SyntheticEcgConfig.create`` so the name (= cache
    directory) encodes every parameter that changes the data."""

    variant: str = DEFAULTS['variant']
    seed: int = DEFAULTS['seed']
    num_train: int = DEFAULTS['num_train']
    num_validation: int = DEFAULTS['num_validation']
    num_test: int = DEFAULTS['num_test']
    window: int = DEFAULTS['window']
    sample_rate: float = DEFAULTS['sample_rate']
    motif_k: int = DEFAULTS['motif_k']
    noise: float = DEFAULTS['noise']
    product_lag: int = DEFAULTS['product_lag']

    @classmethod
    def create(cls, **params: Any) -> SyntheticEcgConfig:
        p = synthetic.validate_params(params)
        return cls(name=synthetic.config_name(p), description=_describe(p), **p)

    @property
    def params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFAULTS}


def _describe(p: Mapping[str, Any]) -> str:
    if p['variant'] == 'adding':
        return 'Adding problem: the target is the sum of the two marked values.'
    if p['variant'] == 'product':
        return (
            f'Multiplicative: label 1 iff sum_t a_t * b_(t-{p["product_lag"]}) > 0 '
            'over the two channels.'
        )
    if p['variant'] == 'motif':
        return (
            f'Motif: label 1 iff exactly k={p["motif_k"]} upright beats lie between the two '
            'inverted beats of the window.'
        )
    return 'Rhythm: normal sinus, AF-like, ventricular premature beats, brady/tachycardia.'


class SyntheticEcg(tfds_prep.LocalBuilder, skip_registration=True):
    """Synthetic ECG windows. Not registered globally: instantiate directly (avoids duplicate
    registration errors on re-import); ``load_builder`` handles caching and locking."""

    name = 'synthetic_ecg'
    # Bump whenever the generator's output changes, so stale caches are not reused.
    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'Gaussian P-QRS-T beat model; rhythm and motif variants.'}
    BUILDER_CONFIGS = [
        SyntheticEcgConfig.create(variant='rhythm'),
        SyntheticEcgConfig.create(variant='motif'),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        if synthetic.TASKS[cfg.variant] == 'regression':
            label = tfds.features.Scalar(dtype=np.float32)
        else:
            label = tfds.features.ClassLabel(names=synthetic.CLASS_NAMES[cfg.variant])
        shape = (cfg.window, synthetic.CHANNELS[cfg.variant])
        # Stored in generation order (the labels are already in random order): a stored split
        # equals ``generate(...)`` output (and its metadata) by index.
        return self.dataset_info(
            {'signal': tfds.features.Tensor(shape=shape, dtype=np.float32), 'label': label},
            description=synthetic.__doc__,
            homepage='https://physionet.org/content/ecgsyn/',
            citation=(
                '@article{mcsharry2003ecgsyn, title={A dynamical model for generating '
                'synthetic electrocardiogram signals}, author={McSharry, Patrick E. and '
                'Clifford, Gari D. and Tarassenko, Lionel and Smith, Leonard A.}, '
                'journal={IEEE Trans. Biomed. Eng.}, volume={50}, number={3}, '
                'pages={289--294}, year={2003}}'
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._generate_examples(split) for split in SPLITS}

    def _generate_examples(self, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
        x, y, _ = synthetic.generate(self.builder_config.params, split)
        for i in range(len(y)):
            label = float(y[i]) if y.dtype.kind == 'f' else int(y[i])
            yield i, {'signal': x[i], 'label': label}


def load_builder(params: Mapping[str, Any], data_dir: str) -> SyntheticEcg:
    """Returns a prepared builder, generating the data only if it is not cached yet (once,
    under a file lock: tfds_prep.prepare)."""
    cfg = SyntheticEcgConfig.create(**params)
    return tfds_prep.prepare_config(SyntheticEcg, cfg, data_dir)[0]


def read_split(builder: SyntheticEcg, split: str) -> dict[str, np.ndarray]:
    """Reads a whole split into {'x': float32 (N, T, C), 'y': int32 (N,) or float32 targets}."""
    regression = synthetic.TASKS[builder.builder_config.variant] == 'regression'
    return tfds_prep.read_arrays(builder, split, np.float32 if regression else np.int32)[0]
