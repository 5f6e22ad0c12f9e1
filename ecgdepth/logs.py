"""What a run prints: its log.txt, and a console (and log.txt) free of other libraries' INFO.

orbax logs dozens of INFO lines per checkpoint, TFDS and JAX a few per run, all through absl or
the root logger, drowning the progress lines. `QuietThirdParty` drops INFO and DEBUG records
logged from the NOISY packages' own code unless absl's --verbosity asks for more than INFO (1
or higher); their warnings and errors always pass. Imports no JAX: launch.py's --report path
installs it too.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
from collections.abc import Iterator

from absl import logging as absl_logging

from ecgdepth import workdir as workdir_lib

NOISY = ('orbax', 'tensorflow_datasets', 'jax', 'jaxlib', 'flax', 'etils')


@functools.cache
def noisy_dirs() -> tuple[str, ...]:
    """Where the NOISY packages' code is (found without importing them)."""
    found = []
    for name in NOISY:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(os.path.join(os.path.realpath(location), ''))
    return tuple(found)


@functools.lru_cache(maxsize=4096)
def is_noisy(pathname: str) -> bool:
    """Whether the code file `pathname` is a NOISY package's."""
    return os.path.realpath(pathname).startswith(noisy_dirs())


class QuietThirdParty(logging.Filter):
    """Passes a record unless it is below WARNING, from a NOISY package, at --verbosity 0."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or absl_logging.get_verbosity() > absl_logging.INFO:
            return True
        return not is_noisy(record.pathname)


def quiet_console() -> None:
    """Installs QuietThirdParty on absl's console handler (once; launch.py and sweep workers)."""
    handler = absl_logging.get_absl_handler().python_handler
    if not any(isinstance(f, QuietThirdParty) for f in handler.filters):
        handler.addFilter(QuietThirdParty())


@contextlib.contextmanager
def run_log(workdir: str, write: bool = True) -> Iterator[None]:
    """Appends what is logged meanwhile to workdir/log.txt, in absl's format and filtered as the
    console is. `write` False (a process other than the chief): nothing is written."""
    if not write:
        yield
        return
    handler = logging.FileHandler(os.path.join(workdir, workdir_lib.LOG_FILE), encoding='utf-8')
    handler.setFormatter(absl_logging.PythonFormatter())
    handler.addFilter(QuietThirdParty())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
