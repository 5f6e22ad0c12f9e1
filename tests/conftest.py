"""Test settings: CPU only, and one synthetic-data cache shared by the whole session."""

import os
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
    """A TFDS data dir shared by the session, so each synthetic config is generated once."""
    return str(tmp_path_factory.mktemp('tfds'))


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    """A compilation cache shared by one module's runs: each program compiles once."""
    return tmp_path_factory.mktemp('cache')


SHARED_DATA = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data'))


def shared_path(*parts: str) -> str:
    """A path under ../shared/data, or a clean skip where that data is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f'real data not found at {path}')
    return path


def set_field(config, path: str, value) -> None:
    """Sets the dotted `path` of a config to `value`, of any type (to make it invalid)."""
    *parents, leaf = path.split('.')
    node = config
    for part in parents:
        node = node[part]
    with node.ignore_type():
        node[leaf] = value
