"""The code's structure: which modules stay free of JAX, and how long functions may grow."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FUNCTION_LINES = 60


def long_functions(directory: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'path:line name (n lines)' for every function under `directory` longer than `limit`
    lines, counted from its def line to its last line (docstring included)."""
    found = []
    for folder, _, names in os.walk(directory):
        for name in sorted(names):
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        where = os.path.relpath(path, ROOT)
                        found.append(f'{where}:{node.lineno} {node.name} ({lines} lines)')
    return found


@pytest.mark.parametrize('directory', ['ecgdepth/train'])
def test_no_function_is_longer_than_the_limit(directory):
    assert long_functions(os.path.join(ROOT, directory)) == []


def test_the_checker_finds_a_long_function(tmp_path):
    body = '\n'.join(f'    x{i} = {i}' for i in range(MAX_FUNCTION_LINES))
    (tmp_path / 'long.py').write_text(f'def long():\n{body}\n\n\ndef short():\n    pass\n')
    assert [f.split(' ', 1)[1] for f in long_functions(str(tmp_path))] == [
        f'long ({MAX_FUNCTION_LINES + 1} lines)'
    ]


def test_reading_results_imports_neither_jax_nor_the_trainer():
    code = (
        'import sys, ecgdepth.results, ecgdepth.findings, ecgdepth.plots, ecgdepth.workdir\n'
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax') "
        "or m.startswith(('ecgdepth.train', 'ecgdepth.trial')))\n"
        'assert not heavy, heavy\n'
    )
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)


def test_workdir_imports_only_the_standard_library_and_files():
    with open(os.path.join(ROOT, 'ecgdepth', 'workdir.py')) as f:
        tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(f'{node.module}.{alias.name}' for alias in node.names)
    ours = {name for name in imported if name.split('.')[0] not in sys.stdlib_module_names}
    assert ours == {'ecgdepth.files'}
