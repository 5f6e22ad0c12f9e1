"""The real-ECG configs measured: N seeds of a config through launch.py, their benchmark figures
and wall times, as JSON, and the docs table generated from that JSON.

python benchmarks/real_ecg.py run --config=configs/ecg/mitbih.py --manual_dir=DIR \
    --seeds=3 --out=benchmarks/results/real_ecg_mitbih.json --workdir=/tmp/real_ecg
python benchmarks/real_ecg.py docs     # rewrites the table in docs/data.md from the JSON files

Every figure of the table comes from a result file (benchmarks/results/real_ecg_*.json); the
table in docs/data.md sits between two markers and tests/test_real_ecg_table.py checks that it
is what this script renders from those files.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, 'benchmarks', 'results')
DOC = os.path.join(REPO, 'docs', 'data.md')
BEGIN, END = '<!-- real-ecg:begin -->', '<!-- real-ecg:end -->'
# Per dataset: the figures the literature reports, as (label, path into summary['test']).
FIGURES = {
    'mitbih': [
        ('AAMI macro-F1', ('aami_macro_f1',)),
        ('S Se', ('per_class', 'S', 'sensitivity')),
        ('S +P', ('per_class', 'S', 'ppv')),
        ('V Se', ('per_class', 'V', 'sensitivity')),
        ('V +P', ('per_class', 'V', 'ppv')),
        ('accuracy', ('accuracy',)),
    ],
    'cinc2017': [
        ('challenge F1', ('challenge_f1',)),
        ('N F1', ('per_class', 'N', 'f1')),
        ('A F1', ('per_class', 'A', 'f1')),
        ('O F1', ('per_class', 'O', 'f1')),
        ('accuracy', ('accuracy',)),
    ],
}


def lookup(tree, path):
    for key in path:
        tree = None if tree is None else tree.get(key)
    return tree


def run_seed(args, seed: int) -> dict:
    workdir = os.path.join(args.workdir, f'seed_{seed}')
    command = [
        sys.executable,
        os.path.join(REPO, 'launch.py'),
        f'--config={args.config}{"," if ":" in args.config else ":"}seed={seed}',
        f'--workdir={workdir}',
        f'--config.data.manual_dir={args.manual_dir}',
        *args.override,
    ]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    if result.returncode:
        raise SystemExit(f'seed {seed} failed:\n{result.stderr[-3000:]}')
    with open(os.path.join(workdir, 'summary.json')) as f:
        summary = json.load(f)
    return {
        'seed': seed,
        'wall_time_s': wall,
        'train_wall_time_s': summary['wall_time_s'],
        'steps_per_s': summary['steps_per_s'],
        'best_step': summary['best_step'],
        'num_steps': summary['num_steps'],
        'params': summary['params'],
        'dataset': summary['dataset'],
        'model': summary['model'],
        'variant': summary.get('variant'),
        'test': summary['test'],
        'val': summary['val'],
        'command': ' '.join(
            [
                'python launch.py',
                f'--config={args.config}',
                '--workdir=W',
                '--config.data.manual_dir=DIR',
                *args.override,
            ]
        ),
    }


def run(args) -> None:
    """Trains the seeds one after another (the machine otherwise idle) and writes the JSON."""
    seeds = [run_seed(args, seed) for seed in range(args.seeds)]
    out = {
        'config': args.config,
        'overrides': args.override,
        'machine': f'{platform.machine()}, {os.cpu_count()} cores',
        'date': time.strftime('%Y-%m-%d'),
        'seeds': seeds,
        'num_steps': seeds[0]['num_steps'],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + '.tmp'
    with open(temporary, 'w') as f:
        json.dump(out, f, indent=1, sort_keys=True)
    os.replace(temporary, args.out)
    print(render([out]))


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return '–'
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def render(results: list[dict]) -> str:
    """One table per dataset: mean ± std over the seeds of each figure, the wall time a seed
    took end to end, and the command."""
    lines = []
    for result in results:
        seeds = result['seeds']
        dataset = seeds[0]['dataset'].split('/')[0]
        figures = FIGURES.get(dataset, [])
        lines.append(
            f'**{result["config"]}** ({seeds[0]["variant"]}, {seeds[0]["params"]:,} parameters; '
            f'{len(seeds)} seeds on {result["machine"]}, {result["date"]}): test split'
        )
        lines.append('')
        header = [label for label, _ in figures] + ['best step', 'wall time a seed (s)']
        lines.append('| ' + ' | '.join(header) + ' |')
        lines.append('|' + '---:|' * len(header))
        cells = [_mean_std([lookup(s['test'], path) for s in seeds]) for _, path in figures]
        walls = [s['wall_time_s'] for s in seeds]
        steps = result.get('num_steps')
        best = ', '.join(str(s['best_step']) for s in seeds)
        cells.append(f'{best} of {steps}' if steps else best)
        cells.append(f'{statistics.median(walls):.0f} (median; max {max(walls):.0f})')
        lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
        lines.append(f'`{seeds[0]["command"]}` with `seed=0`…`{len(seeds) - 1}` in the spec')
        lines.append('')
    return '\n'.join(lines).rstrip() + '\n'


def result_files() -> list[str]:
    return sorted(glob.glob(os.path.join(RESULTS, 'real_ecg_*.json')))


RR_TRANSFER = os.path.join(RESULTS, 'rr_transfer.json')


def render_rr_transfer(result: dict) -> str:
    """benchmarks/rr_transfer.py's figures: S and V found by RR features alone."""
    rows = []
    for name, feature_set in result['sets'].items():
        for split, label in (('validation', 'DS1 validation'), ('test', 'DS2')):
            seeds = feature_set['seeds']
            cells = [
                _mean_std([seed[split][cls][rate] for seed in seeds])
                for cls in ('S', 'V')
                for rate in ('sensitivity', 'ppv')
            ]
            rows.append(
                f'| {name} ({len(feature_set["features"])}) | {label} | ' + ' | '.join(cells) + ' |'
            )
    return '\n'.join(
        [
            'RR features alone (`benchmarks/rr_transfer.py`: an MLP on the standardised '
            "features, trained on DS1's training records, 3 seeds):",
            '',
            '| features | scored on | S Se | S +P | V Se | V +P |',
            '|---|---|---:|---:|---:|---:|',
            *rows,
            '',
        ]
    )


def docs_block() -> str:
    results = []
    for path in result_files():
        with open(path) as f:
            results.append(json.load(f))
    body = render(results) if results else 'No measured results yet.\n'
    if os.path.isfile(RR_TRANSFER):
        with open(RR_TRANSFER) as f:
            body += '\n' + render_rr_transfer(json.load(f))
    return f'{BEGIN}\n{body}{END}'


def docs(args) -> None:
    with open(DOC) as f:
        text = f.read()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    text = text[:start] + docs_block() + text[end:]
    with open(DOC, 'w') as f:
        f.write(text)
    print(f'{DOC}: table rewritten from {len(result_files())} result file(s).')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='mode', required=True)
    runner = sub.add_parser('run')
    runner.add_argument('--config', required=True)
    runner.add_argument('--manual_dir', required=True)
    runner.add_argument('--seeds', type=int, default=3)
    runner.add_argument('--out', required=True)
    runner.add_argument('--workdir', required=True)
    runner.add_argument('--override', action='append', default=[])
    sub.add_parser('docs')
    args = parser.parse_args()
    run(args) if args.mode == 'run' else docs(args)


if __name__ == '__main__':
    main()
