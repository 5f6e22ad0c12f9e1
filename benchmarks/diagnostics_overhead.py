"""What the diagnostics cost: a short training run with train.diagnostics on against off.

  python benchmarks/diagnostics_overhead.py [--families=dilated_cnn,lstm,mi_mlp]
      [--spec=runlocal,depth=4] [--repeats=3] [--out=overhead.md]

Each measurement is a fresh `launch.py` run in a fresh workdir (so each compiles from scratch,
as a sweep trial does), timed by its own `wall_time_s` in summary.json (process start-up is
left out); on and off alternate so drift in the machine's load hits both. Prints a Markdown
table: the median wall time of each family with and without diagnostics and their ratio. The
diagnostics cost a FLOPs lowering, two compiled probes and one probe call at step 0 and at
every evaluation, so the ratio depends on `train.eval_every` and on the run's length.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from ecgdepth import files  # noqa: E402

_FAMILIES = flags.DEFINE_list('families', ['dilated_cnn', 'lstm', 'mi_mlp'], 'Model families.')
_SPEC = flags.DEFINE_string('spec', 'runlocal,depth=4', 'Config spec of every run.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Runs per setting (median reported).')
_OUT = flags.DEFINE_string('out', '', 'Also write the Markdown table here.')


def wall_time(family: str, spec: str, diagnostics: bool, root: str, data_dir: str) -> float:
    """Seconds train_and_evaluate took for one fresh run (its summary's wall_time_s)."""
    workdir = tempfile.mkdtemp(dir=root)
    env = {**os.environ, 'ECGDEPTH_DATA_DIR': data_dir}
    command = [
        sys.executable,
        'launch.py',
        f'--config=configs/{family}.py:{spec},train.diagnostics={diagnostics}',
        f'--workdir={workdir}',
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'{" ".join(command)} failed:\n{result.stderr[-3000:]}')
    with open(os.path.join(workdir, 'summary.json')) as f:
        return float(json.load(f)['wall_time_s'])


def main(argv):
    del argv
    lines = [
        f'Config spec `{_SPEC.value}`; median of {_REPEATS.value} fresh runs each.',
        '',
        '| family | diagnostics on (s) | off (s) | on / off |',
        '|---|---:|---:|---:|',
    ]
    with tempfile.TemporaryDirectory() as root:
        data_dir = os.path.join(root, 'tfds')
        for family in _FAMILIES.value:
            wall_time(family, _SPEC.value, False, root, data_dir)  # Data prepared, untimed.
            times = {True: [], False: []}
            for _ in range(_REPEATS.value):
                for diagnostics in (True, False):
                    seconds = wall_time(family, _SPEC.value, diagnostics, root, data_dir)
                    times[diagnostics].append(seconds)
            on, off = (statistics.median(times[d]) for d in (True, False))
            lines.append(f'| {family} | {on:.1f} | {off:.1f} | {on / off:.2f} |')
            print(lines[-1], flush=True)
    table = '\n'.join(lines) + '\n'
    print(table)
    if _OUT.value:
        files.write_text(_OUT.value, table)


if __name__ == '__main__':
    app.run(main)
