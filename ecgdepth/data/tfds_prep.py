"""The TFDS builder skeleton the datasets share: a builder TFDS finds by name (`register`),
its DatasetInfo, preparing a config once, safely across processes, and reading a split back.

Sweep workers and multi-process jobs may ask for the same dataset at once. Preparation is
serialised with an exclusive file lock per builder config, so no two processes race on TFDS's
incomplete-dir rename; the loser of the race finds the data prepared and reuses it.

Imports TFDS: only the modules that store data with TFDS import this one (ecgdepth/data/base.py
is what building and checking a config needs).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import inspect
import logging as std_logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath
from tensorflow_datasets.core import registered

from ecgdepth.data import base

# TFDS name -> (module, class): what tfds.builder('mitbih/beats') finds once `register` ran.
BUILDERS = {
    'mitbih': ('ecgdepth.data.mitbih', 'MitBih'),
    'cinc2017': ('ecgdepth.data.cinc2017', 'Cinc2017'),
}


class _Provider:
    """TFDS's lookup by name (a DatasetBuilderProvider) for BUILDERS: imports a builder's
    module on first use only, and returns the class of the module as it is now (a reloaded
    module's), where a registered class would raise 'already registered' on a re-import."""

    ecgdepth_builders = True

    def has_dataset(self, name: str) -> bool:
        return name in BUILDERS

    def get_builder_cls(self, name: str) -> type:
        module, cls = BUILDERS[name]
        return getattr(importlib.import_module(module), cls)


def register() -> None:
    """Lets tfds.builder / tfds.load / tfds.data_source find BUILDERS by name; once per
    process (TFDS's provider list outlives reloads of this module)."""
    providers = getattr(registered, '_DATASET_PROVIDER_REGISTRY', [])
    if not any(getattr(p, 'ecgdepth_builders', False) for p in providers):
        # First: TFDS's own provider imports all of its catalogue to look up an unknown name.
        registered.add_dataset_builder_provider(_Provider(), index=0)


register()


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of ecgdepth's builders: found by name through `register` rather than TFDS's class
    registration (a re-import would raise a duplicate-registration error), stored as
    array_record by default (what tfds.data_source reads), code path = the defining module."""

    def __init__(self, *, file_format: Any = None, **kwargs: Any):
        super().__init__(file_format=file_format or 'array_record', **kwargs)

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # TFDS's default probes the `importlib_resources` backport, which is not installed.
        return epath.Path(inspect.getfile(cls))

    def dataset_info(self, features: dict[str, Any], **info: Any) -> tfds.core.DatasetInfo:
        """The DatasetInfo of every ecgdepth builder: x under 'signal', y under 'label', and
        the examples stored in the order the builder yields them (disable_shuffling), so a
        stored split's index i is the builder's i-th example; `info` adds description,
        homepage, citation, license, metadata."""
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=('signal', 'label'),
            disable_shuffling=True,
            **info,
        )


class _DropConstructionNoise(std_logging.Filter):
    """Drops TFDS warnings that are expected for our ad-hoc configs (a full config repr per
    builder construction, and 'no dataset_info.json' while a config is not prepared yet)."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        msg = str(record.msg)
        return not msg.startswith(('Using custom data configuration', 'Variant folder'))


@contextlib.contextmanager
def quiet_tfds() -> Iterator[None]:
    logger, noise = logging.get_absl_logger(), _DropConstructionNoise()
    logger.addFilter(noise)
    try:
        yield
    finally:
        logger.removeFilter(noise)


def prepare(
    make: Callable[[], Any], data_dir: str, download_config: Any = None
) -> tuple[Any, bool]:
    """Returns (a prepared builder, whether it was prepared just now).

    `make()` constructs the builder; it is called again after preparing so the returned builder
    reads the final dataset_info and metadata from disk.
    """
    with quiet_tfds():
        builder = make()
        if builder.is_prepared():
            return builder, False
        name = f'{builder.name}/{builder.builder_config.name}'
        lock_path = os.path.join(data_dir, builder.name, f'{builder.builder_config.name}.lock')
        os.makedirs(os.path.dirname(lock_path), exist_ok=True)
        with open(lock_path, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                builder = make()  # Re-check under the lock: another process may have finished.
                prepared_now = not builder.is_prepared()
                if prepared_now:
                    start = time.perf_counter()
                    builder.download_and_prepare(
                        file_format='array_record', download_config=download_config
                    )
                    logging.info(
                        'Prepared %s in %.1f s under %s',
                        name,
                        time.perf_counter() - start,
                        data_dir,
                    )
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return make(), prepared_now


def prepare_config(
    builder_class: type, config: Any, data_dir: str, download_config: Any = None
) -> tuple[Any, bool]:
    """`prepare` for a builder config made from parameters (its name encodes them): the
    predefined entry of BUILDER_CONFIGS is used where the names match, since TFDS rejects a
    different object of the same name."""
    chosen = config.name if config.name in builder_class.builder_configs else config

    def make() -> Any:
        return builder_class(config=chosen, data_dir=data_dir, file_format='array_record')

    return prepare(make, data_dir, download_config)


def given_manual_dir(dl_manager: Any) -> str:
    """The download manager's manual_dir, or '' where there is none or it is empty: TFDS
    always sets one (<data_dir>/downloads/manual by default), so emptiness means 'download'."""
    try:
        return os.fspath(dl_manager.manual_dir)
    except AssertionError:
        return ''


def download_config(manual_dir: str = '') -> tfds.download.DownloadConfig:
    """Where TFDS finds files a user downloaded by hand ('' = none: it downloads them)."""
    return tfds.download.DownloadConfig(manual_dir=manual_dir or None)


def read_arrays(
    builder: Any, split: str, y_dtype: Any = np.int32, extra: tuple[tuple[str, str, Any], ...] = ()
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A stored split as the Dataset's arrays, {'x': float32 (N, T, C), 'y': y_dtype (N,)}
    plus `extra` ((split key, feature, dtype), ...) where stored, and all the split's columns."""
    columns = base.read_tfds_split(builder, split)
    arrays = {
        'x': columns['signal'].astype(np.float32, copy=False),
        'y': columns['label'].astype(y_dtype, copy=False),
    }
    for key, feature, dtype in extra:
        if feature in columns:
            arrays[key] = columns[feature].astype(dtype, copy=False)
    return arrays, columns
