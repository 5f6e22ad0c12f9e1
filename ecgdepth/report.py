"""The report of a sweep workdir: its result table in three formats, its figures, report.md.

python -m ecgdepth.report WORKDIR [--metric=macro_f1,accuracy] [--ci] [--out=DIR] [--noplots]

Outputs, written atomically into WORKDIR/report/ (or --out): table.md (the full table),
table.csv (unformatted mean, std and n per column), table.tex (booktabs), trials.csv (one row
per trial and seed: config fields, status, results), figures/ (ecgdepth/plots.py) and report.md,
an index of all of them that shows the short table (headline metric, params, FLOPs, receptive
field). The full Markdown table and the report's path are printed. The table itself
(trial states, grouping, cells) is ecgdepth/results.py; launch.py --report calls `run`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

from ecgdepth import files, results
from ecgdepth import workdir as workdir_lib

TRIALS_FILE = 'trials.csv'


def trial_notes(table: results.Table) -> list[str]:
    """One Markdown bullet per trial that is not done: which, what state, why."""
    notes = []
    for row in table.rows:
        for t in row.trials:
            if t.status == workdir_lib.DONE:
                continue
            seed = f', seed {t.seed}' if t.seed is not None else ''
            where = row.label() or 'all'
            notes.append(f'- `{t.id}` ({where}{seed}): **{t.status}**. {t.note or ""}'.rstrip())
    return notes


def report_markdown(table: results.Table, figures: Sequence[Any], out_dir: str) -> str:
    """report.md: what a person opens first, so the short table (table.md has every column);
    figure paths are relative to out_dir."""
    counts = ', '.join(f'{n} {state}' for state, n in table.counts().items())
    grouped = ', '.join(f'{results.key_label(k)} (`{k}`)' for k in table.group_keys) or 'nothing'
    lines = [
        f'# Sweep report: {table.source}',
        '',
        f'- Workdir: `{os.path.abspath(table.workdir)}`',
        f'- Trials: {len(table.trials)} ({counts})',
        f'- Rows group trials by {grouped}; seeds are aggregated.',
        f'- Generated {time.strftime("%Y-%m-%d %H:%M:%S %Z")} by `python -m ecgdepth.report`.',
        '- Files: [table.md](table.md) (every column), [table.csv](table.csv), '
        '[table.tex](table.tex), [trials.csv](trials.csv) (one row per trial and seed).',
        '',
        '## Results',
        '',
        results.to_markdown(results.short_table(table)).rstrip(),
        '',
        'Every metric, split and diagnostic: [table.md](table.md).',
        '',
    ]
    if figures:
        lines += ['## Figures', '']
        for i, figure in enumerate(figures, 1):
            png, pdf = (os.path.relpath(p, out_dir) for p in (figure.png, figure.pdf))
            lines += [
                f'![{figure.caption.split(":")[0]}]({png})',
                '',
                f'*Figure {i}.* {figure.caption} ([PDF]({pdf}))',
                '',
            ]
    notes = trial_notes(table)
    lines += ['## Trials not done', '']
    lines += notes if notes else ['All trials are done.']
    return '\n'.join(lines) + '\n'


@dataclasses.dataclass
class Report:
    table: results.Table
    markdown: str  # The table with its legend, as printed.
    directory: str
    path: str  # report.md
    figures: list


def write_report(table: results.Table, out_dir: str, *, plots: bool = True) -> Report:
    """Writes table.md/.csv/.tex, trials.csv, the figures and report.md into out_dir, each
    atomically."""
    table_md = results.to_markdown(table)
    files.write_text(os.path.join(out_dir, 'table.md'), table_md)
    files.write_text(os.path.join(out_dir, 'table.csv'), results.to_csv(table))
    files.write_text(os.path.join(out_dir, 'table.tex'), results.to_latex(table))
    files.write_text(os.path.join(out_dir, TRIALS_FILE), results.to_trials_csv(table))
    figures = []
    if plots:
        from ecgdepth import plots as plots_lib  # matplotlib only when figures are wanted.

        figures = plots_lib.make_figures(table, os.path.join(out_dir, 'figures'))
    path = os.path.join(out_dir, 'report.md')
    files.write_text(path, report_markdown(table, figures, out_dir))
    return Report(table, table_md, out_dir, path, figures)


def run(
    workdir: str,
    *,
    metrics: Sequence[str] | None = None,
    out: str | None = None,
    ci: bool = False,
    resamples: int = results.DEFAULT_RESAMPLES,
    plots: bool = True,
) -> Report:
    """results.collect + write_report: what the command line does."""
    table = results.collect(workdir, metrics=metrics, ci=ci, resamples=resamples)
    return write_report(table, out or os.path.join(workdir, workdir_lib.REPORT_DIR), plots=plots)


def main(argv: list[str]) -> None:
    from absl import app, flags

    if len(argv) != 2:
        raise app.UsageError(
            'Usage: python -m ecgdepth.report WORKDIR [--metric=...] [--out=DIR] [--ci]; '
            f'got arguments {argv[1:]}.'
        )
    flag = flags.FLAGS
    try:
        report = run(
            argv[1],
            metrics=flag.metric,
            out=flag.out,
            ci=flag.ci,
            resamples=flag.resamples,
            plots=flag.plots,
        )
    except results.ResultsError as error:
        raise app.UsageError(str(error)) from None
    print(report.markdown)
    print(f'Report: {report.path}')


if __name__ == '__main__':
    from absl import app, flags

    # Defined here, not at import: importing this module must not claim global flag names.
    flags.DEFINE_list(
        'metric',
        None,
        'Metrics for the table (accuracy, macro_f1, loss; regression: mse, mae, r2, '
        "baseline_mse); the first is plotted. Default: the sweep's select_metric, then the "
        'others.',
    )
    flags.DEFINE_string('out', None, 'Output directory (default WORKDIR/report).')
    flags.DEFINE_bool('ci', False, 'Add a percentile-bootstrap 95% CI of the mean to each cell.')
    flags.DEFINE_integer(
        'resamples', results.DEFAULT_RESAMPLES, 'Bootstrap resamples.', lower_bound=1
    )
    flags.DEFINE_bool('plots', True, 'Write figures (--noplots: tables and report only).')
    app.run(main)
