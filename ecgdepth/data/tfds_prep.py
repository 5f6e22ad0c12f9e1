"""Preparing a TFDS builder once, safely across processes, and without TFDS's ad-hoc noise.

Sweep workers and multi-process jobs may ask for the same dataset at once. Preparation is
serialised with an exclusive file lock per builder config, so no two processes race on TFDS's
incomplete-dir rename; the loser of the race finds the data prepared and reuses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import logging as std_logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow_datasets as tfds
from absl import logging
from etils import epath


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of ecgdepth's builders: not registered with TFDS (instantiated directly, so a
    re-import raises no duplicate-registration error), code path = the defining module."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # TFDS's default probes the `importlib_resources` backport, which is not installed.
        return epath.Path(inspect.getfile(cls))


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
