"""The package's import structure: no import circles, every module in its layer, each layer
importing only from its own or lower ones, nothing importing the configs; and launch.py thin.

The graph is read from the source with `ast`, function-level imports included, so it holds
whatever a module may import at any time, not just at import time."""

import ast
import os
import subprocess
import sys

from conftest import REPO

# Lowest first. A module belongs to the entry that names it, or else to the entry of the
# package it is in (ecgdepth.data covers ecgdepth.data.synthetic). Modules of one layer may
# import each other; a module may import from its own layer and lower ones, never higher.
# Entries for modules that do not exist (yet) are fine.
LAYERS = [
    ('ground floor', ['ecgdepth', 'ecgdepth.files', 'ecgdepth.metrics', 'ecgdepth.checkpoint',
                      'ecgdepth.distributed', 'ecgdepth.workdir', 'ecgdepth.rules',
                      'ecgdepth.variants', 'ecgdepth.logs', 'ecgdepth.progress']),
    ('models, data', ['ecgdepth.models', 'ecgdepth.data', 'ecgdepth.data.preprocess',
                      'ecgdepth.data.feature_norm']),
    ('validation, spec', ['ecgdepth.validation', 'ecgdepth.spec']),
    ('diagnostics', ['ecgdepth.diagnostics']),
    ('train', ['ecgdepth.train']),
    ('sweep', ['ecgdepth.sweep']),
    ('experiment', ['ecgdepth.experiment']),
    ('trial', ['ecgdepth.trial']),
    ('cluster', ['ecgdepth.cluster']),
    ('results', ['ecgdepth.results', 'ecgdepth.history']),
    ('plots', ['ecgdepth.plots']),
    ('report, findings', ['ecgdepth.report', 'ecgdepth.findings']),
    ('commands', ['ecgdepth.commands']),
]  # fmt: skip

LAUNCH_MAX_LINES = 80

PACKAGE = os.path.join(REPO, 'ecgdepth')


def module_files() -> dict[str, str]:
    """{module name: path} for every .py file under ecgdepth/."""
    found = {}
    for directory, dirs, names in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if not d.startswith(('.', '__')))
        for name in sorted(names):
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                parts = os.path.relpath(path, REPO)[: -len('.py')].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                found['.'.join(parts)] = path
    return found


def imported(module: str, path: str, modules: set[str]) -> set[str]:
    """The ecgdepth modules and the configs package that `module` imports, anywhere in it."""
    is_package = path.endswith('__init__.py')
    targets = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:  # Relative: from the module's package, up level - 1 more.
                package = module.split('.') if is_package else module.split('.')[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = '.'.join(package + ([base] if base else []))
            # `from pkg import name` imports the module pkg.name if there is one, else pkg.
            names = [f'{base}.{a.name}' if f'{base}.{a.name}' in modules else base
                     for a in node.names]  # fmt: skip
        else:
            continue
        for name in names:
            top = name.split('.')[0]
            if top == 'configs':
                targets.add('configs')
            elif top == 'ecgdepth':
                while name not in modules:  # `import ecgdepth.data.x.y` where y is a name.
                    name = name.rpartition('.')[0]
                targets.add(name)
    targets.discard(module)
    return targets


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {m: imported(m, path, set(files)) for m, path in files.items()}


def layer_of(module: str) -> int | None:
    for index, (_, entries) in enumerate(LAYERS):
        if module in entries:
            return index
    best = None  # The innermost listed package holding the module (never the root package).
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            if entry != 'ecgdepth' and module.startswith(entry + '.'):
                if best is None or len(entry) > len(best[1]):
                    best = (index, entry)
    return best[0] if best else None


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_reader_sees_function_level_and_package_imports():
    graph = import_graph()
    assert 'ecgdepth.plots' in graph['ecgdepth.report']  # Imported inside write_report.
    assert 'ecgdepth.distributed' in graph['ecgdepth.commands']  # Inside a function too.
    assert 'ecgdepth.train.loop' in graph['ecgdepth.train']  # The package's __init__.
    assert 'ecgdepth.train.members' in graph['ecgdepth.train.loop']  # from ecgdepth.train import
    assert 'ecgdepth.data' in graph['ecgdepth.train.trainer']  # A package by its name.
    assert circles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_every_module_is_in_the_layer_table():
    unlisted = sorted(m for m in import_graph() if layer_of(m) is None)
    assert not unlisted, f'{unlisted}: add it to the layer table (LAYERS in {__file__}).'


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets - {'configs'}):
            low, high = layer_of(module), layer_of(target)
            if low is not None and high is not None and high > low:
                upward.append(f'{module} ({LAYERS[low][0]}) imports {target} ({LAYERS[high][0]})')
    assert not upward, 'Imports from a higher layer:\n' + '\n'.join(upward)


def test_no_import_circles():
    graph = import_graph()
    assert not circles(graph), f'Import circles: {circles(graph)}'


def test_nothing_in_the_package_imports_the_configs():
    importers = {(m, 'configs') for m, targets in import_graph().items() if 'configs' in targets}
    assert not importers, sorted(importers)


def test_launch_is_thin_and_commands_imports_without_flags_or_jax():
    with open(os.path.join(REPO, 'launch.py')) as f:
        lines = len(f.read().splitlines())
    assert lines <= LAUNCH_MAX_LINES, f'launch.py has {lines} lines (at most {LAUNCH_MAX_LINES})'
    tree = ast.parse(open(os.path.join(PACKAGE, 'commands.py')).read())
    defines = [n.func.attr for n in ast.walk(tree)
               if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr.startswith(('DEFINE', 'mark_flag'))]  # fmt: skip
    assert not defines, defines
    # Importing the library defines no flags and leaves JAX for the modes that need it.
    code = (
        'import sys\nfrom absl import flags, logging\nbefore = set(flags.FLAGS)\n'
        'from ecgdepth import commands\n'
        'assert set(flags.FLAGS) == before, set(flags.FLAGS) - before\n'
        "assert 'jax' not in sys.modules and 'matplotlib' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
