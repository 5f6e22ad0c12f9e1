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
