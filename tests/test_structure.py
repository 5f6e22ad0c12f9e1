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
        'import ecgdepth.progress  # launch.py --status, --wait\n'
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax') "
        "or m.startswith(('ecgdepth.train', 'ecgdepth.trial')))\n"
        'assert not heavy, heavy\n'
    )
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)


def imports_beyond_the_standard_library(module: str) -> set[str]:
    """What ecgdepth/<module>.py imports that the standard library does not hold."""
    with open(os.path.join(ROOT, 'ecgdepth', f'{module}.py')) as f:
        tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(f'{node.module}.{alias.name}' for alias in node.names)
    return {name for name in imported if name.split('.')[0] not in sys.stdlib_module_names}


def test_workdir_imports_only_the_standard_library_and_files():
    assert imports_beyond_the_standard_library('workdir') == {'ecgdepth.files'}


def test_progress_imports_only_the_standard_library_and_the_workdir_contract():
    # Low: the trial runner, SLURM --wait and --status all count with it.
    ours = imports_beyond_the_standard_library('progress')
    assert ours and all(name.startswith(('ecgdepth.workdir', 'ecgdepth.files')) for name in ours)
