"""The code's structure: which modules stay free of JAX (function length: test_function_length)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_reading_results_imports_neither_jax_nor_the_trainer():
    code = (
        'import sys, ecgdepth.results, ecgdepth.findings, ecgdepth.plots, ecgdepth.workdir\n'
        'import ecgdepth.report, ecgdepth.commands, ecgdepth.cluster  # launch.py --report\n'
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
