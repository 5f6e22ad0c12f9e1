"""Times preparing MIT-BIH (mitdb) into a fresh TFDS data dir and loading it into memory.

Why: preparation runs inside training jobs on small machines, so it must stay well under a
minute; loading a prepared config happens at every run start. Prints a Markdown table.

    python benchmarks/prepare_mitbih.py [--manual-dir DIR] [--runs 1] [--load-runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import ml_collections  # noqa: E402
from absl import logging  # noqa: E402

from ecgdepth import data  # noqa: E402
from ecgdepth.data import mitbih  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--manual-dir',
        default=os.path.join(REPO, '..', 'shared', 'data', 'mitdb'),
        help='folder with the mitdb .hea/.dat/.atr files',
    )
    parser.add_argument('--runs', type=int, default=1, help='prepare runs (median reported)')
    parser.add_argument('--load-runs', type=int, default=3, help='load runs (median reported)')
    parser.add_argument('--variant', default='beats', choices=mitbih.VARIANTS)
    parser.add_argument('--sample-rate', type=float, default=mitbih.DEFAULTS['sample_rate'])
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.set_verbosity(logging.WARNING)
    manual_dir = os.path.abspath(args.manual_dir)
    if not os.path.isfile(os.path.join(manual_dir, '100.hea')):
        sys.exit(f'no mitdb records in {manual_dir}; pass --manual-dir')
    overrides = dict(manual_dir=manual_dir, variant=args.variant, sample_rate=args.sample_rate)

    def config(data_dir: str) -> ml_collections.ConfigDict:
        return ml_collections.ConfigDict(
            dict(name='mitbih', data_dir=data_dir, **{**mitbih.DEFAULTS, **overrides})
        )

    params = mitbih.params_from_config(config(''))
    prepare, load, ds = [], [], None
    root = tempfile.mkdtemp(prefix='bench_mitbih_')
    try:
        for run in range(args.runs):
            data_dir = os.path.join(root, f'run{run}')  # fresh: nothing cached
            t0 = time.perf_counter()
            mitbih.load_builder(params, data_dir)
            prepare.append(time.perf_counter() - t0)
        for _ in range(args.load_runs):
            t0 = time.perf_counter()
            ds = data.load(config(data_dir))  # prepared: only reads the splits
            load.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    sizes = {s: len(ds.splits[s]['y']) for s in data.SPLITS}
    nbytes = sum(a.nbytes for arrays in ds.splits.values() for a in arrays.values())
    print(
        f'{ds.name} from {manual_dir}: input {ds.input_shape}, examples {sizes}, '
        f'{nbytes / 2**20:.0f} MiB in memory; {os.cpu_count()} CPUs, '
        f'Python {platform.python_version()}\n'
    )
    print('| step | runs | median (s) | min (s) | max (s) |')
    print('|---|---:|---:|---:|---:|')
    for step, times in (('prepare (fresh data_dir)', prepare), ('load prepared splits', load)):
        print(
            f'| {step} | {len(times)} | {statistics.median(times):.2f} | {min(times):.2f} '
            f'| {max(times):.2f} |'
        )
    total = sum(sizes.values())
    print(
        f'\nprepare: {total / statistics.median(prepare):,.0f} examples/s; load: '
        f'{total / statistics.median(load):,.0f} examples/s'
    )


if __name__ == '__main__':
    main()
