"""Times preparing CinC 2017 into a fresh TFDS data dir and loading it back into memory.

Why: preparation runs once per config, loading once per training run; both should stay cheap
enough not to matter next to training. Prints a Markdown table.

    python benchmarks/prepare_cinc2017.py [--manual_dir DIR] [--data_dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared', 'data', 'cinc2017', 'training2017'))
CASES = (  # (label, overrides of cinc2017.DEFAULTS)
    ('300 Hz, 30 s, start', {}),
    ('100 Hz, 30 s, center', {'sample_rate': 100.0, 'crop': 'center'}),
    ('300 Hz, 30 s, 5-fold (fold 0)', {'num_folds': 5}),
)
LOAD_IN_NEW_PROCESS = """
import sys, time
t0 = time.perf_counter()
import ml_collections
from ecgdepth import data
ds = data.load(ml_collections.ConfigDict(eval(sys.argv[1])))
print(time.perf_counter() - t0)
"""


def dir_size_mb(path: str) -> float:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--manual_dir', default=SHARED)
    parser.add_argument('--data_dir', default='', help='fresh dir to prepare into (default: tmp)')
    parser.add_argument('--keep', action='store_true', help='keep the prepared data')
    args = parser.parse_args()

    import ml_collections

    from ecgdepth import data
    from ecgdepth.data import cinc2017

    data_dir = args.data_dir or tempfile.mkdtemp(prefix='cinc2017_bench_')
    if os.path.exists(data_dir) and os.listdir(data_dir):
        sys.exit(f'--data_dir {data_dir} is not empty: preparation must start fresh')
    rows = []
    try:
        for label, overrides in CASES:
            cfg = dict(name='cinc2017', data_dir=data_dir, **cinc2017.DEFAULTS)
            cfg.update(manual_dir=args.manual_dir, **overrides)
            params = cinc2017.params_from_config(cfg)

            t0 = time.perf_counter()
            builder, prepared_now = cinc2017.load_builder(params, data_dir)
            prepare = time.perf_counter() - t0
            assert prepared_now, 'expected a fresh preparation'

            t0 = time.perf_counter()
            ds = data.load(ml_collections.ConfigDict(cfg))
            load = time.perf_counter() - t0
            out = subprocess.run(
                [sys.executable, '-c', LOAD_IN_NEW_PROCESS, repr(cfg)],
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            load_new = float(out.stdout.strip().splitlines()[-1])

            n = sum(len(a['y']) for a in ds.splits.values())
            mem = sum(v.nbytes for a in ds.splits.values() for v in a.values()) / 2**20
            disk = dir_size_mb(os.path.join(data_dir, 'cinc2017', builder.builder_config.name))
            sizes = '/'.join(str(len(ds.splits[s]['y'])) for s in data.SPLITS)
            rows.append(
                f'| {label} | {n} ({sizes}) | {ds.input_shape[0]} | {prepare:.1f} '
                f'| {n / prepare:.0f} | {load:.2f} | {load_new:.2f} | {disk:.0f} | {mem:.0f} |'
            )
    finally:
        if not args.keep and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)

    print(f'\nCinC 2017 from {args.manual_dir}; {os.cpu_count()} CPUs\n')
    print(
        '| config | records (train/val/test) | window | prepare s | records/s | load s '
        '| load s (new process) | disk MB | memory MB |'
    )
    print('|---|---|---|---|---|---|---|---|---|')
    print('\n'.join(rows))


if __name__ == '__main__':
    main()
