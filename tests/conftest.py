"""Test settings: CPU only, and one synthetic-data cache shared by the whole session."""

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


def load_config(path: str, arg: str | None = None):
    """get_config(arg) of the config file configs/<path>, loaded by path as launch.py does."""
    from ecgdepth import sweep

    return sweep.load_module(os.path.join(REPO, 'configs', path)).get_config(arg)


def load_script(path: str):
    """The script at REPO/<path> imported as a module (benchmarks are scripts, not a package)."""
    import importlib.util

    name = 'script_' + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, path))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def set_field(config, path: str, value) -> None:
    """Sets the dotted `path` of a config to `value`, of any type (to make it invalid)."""
    *parents, leaf = path.split('.')
    node = config
    for part in parents:
        node = node[part]
    with node.ignore_type():
        node[leaf] = value


def launch(*args, data_dir=None, cwd=REPO):
    """`python launch.py ARGS` in a subprocess on the CPU (the command a user types)."""
    import subprocess
    import sys

    env = dict(os.environ, JAX_PLATFORMS='cpu')
    if data_dir:
        env['ECGDEPTH_DATA_DIR'] = data_dir
    return subprocess.run(
        [sys.executable, os.path.join(REPO, 'launch.py'), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
