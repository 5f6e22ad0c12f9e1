"""The project rule: no function in ecgdepth/ or launch.py is longer than MAX_LINES, def line to
last line (docstring included); a long function splits into helpers named for what they do."""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, 'ecgdepth')
MAX_LINES = 60
# 'path:function' entries exempt from the limit: none.
ALLOWED: set[str] = set()


def _functions(tree: ast.AST, prefix: str = ''):
    """(qualified name, node) of every function, methods and nested functions included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f'{prefix}{node.name}.')
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f'{prefix}{node.name}.')
        else:
            yield from _functions(node, prefix)


def _sources(package: str = PACKAGE) -> list[str]:
    """Every .py under `package`, and launch.py beside it."""
    paths = [os.path.join(os.path.dirname(package), 'launch.py')]
    for root, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        paths += [os.path.join(root, n) for n in sorted(names) if n.endswith('.py')]
    return [p for p in paths if os.path.isfile(p)]


def all_functions(package: str = PACKAGE) -> dict[str, int]:
    """'path.py:qualname' -> length in lines, over every source `_sources` lists."""
    found = {}
    for path in _sources(package):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        relative = os.path.relpath(path, os.path.dirname(package)).replace(os.sep, '/')
        for qualname, node in _functions(tree):
            found[f'{relative}:{qualname}'] = node.end_lineno - node.lineno + 1
    return found


def test_no_function_is_longer_than_the_limit():
    too_long = [
        f'{key}: {lines} lines'
        for key, lines in all_functions().items()
        if lines > MAX_LINES and key not in ALLOWED
    ]
    assert not too_long, f'Functions over {MAX_LINES} lines:\n' + '\n'.join(too_long)


def test_allowed_entries_name_existing_functions():
    """A stale entry would let a new long function of that name in unnoticed."""
    stale = sorted(ALLOWED - set(all_functions()))
    assert not stale, f'ALLOWED names functions that no longer exist: {stale}'


def test_the_checker_finds_a_long_method_and_reads_launch(tmp_path):
    package = tmp_path / 'pkg'
    package.mkdir()
    body = '\n'.join(f'        x{i} = {i}' for i in range(MAX_LINES))
    (package / 'long.py').write_text(f'class A:\n    def long(self):\n{body}\n')
    (tmp_path / 'launch.py').write_text('def main():\n    pass\n')
    found = all_functions(str(package))
    assert found == {'pkg/long.py:A.long': MAX_LINES + 1, 'launch.py:main': 2}
