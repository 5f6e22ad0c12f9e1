"""launch.py's modes as library calls: `check_flags` first, then run, sweep, submit or report.

python launch.py --config=configs/lstm.py:depth=4,width=64,runlocal --workdir=/tmp/lstm
python launch.py --config=configs/dilated_cnn.py --workdir=/tmp/cnn --config.model.depth=16

With --sweep, --config is a sweep file (get_config + get_sweep; ecgdepth/sweep.py) and every
trial runs into WORKDIR/<trial-id>/ (ecgdepth/trial.py):
python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep

--submit=slurm submits instead, with config.cluster's resources (ecgdepth/cluster.py): a run as
one job, a sweep as one array job of its unfinished trials; --wait blocks until they end.

--evaluate=NAME scores a finished run's selected params on other data (the run's config with
`--config.data.*` overrides; ecgdepth/train/evaluate.py) into WORKDIR/eval/NAME/summary.json:
python launch.py --workdir=/tmp/cnn --evaluate=svdb --config.data.database=svdb \
    --config.data.manual_dir=/data/svdb --eval_split=all

--status prints any sweep's table of trials (status, step, SLURM state) and its counts, or a
run's status line, at any time (no --config needed): python launch.py --workdir=/tmp/depth --status

--report writes a sweep's report (ecgdepth/report.py) and prints its table and path: after
--sweep, or alone on an existing sweep workdir (no --config needed):
python launch.py --workdir=/tmp/depth --report

launch.py defines the flags and calls one function per mode; nothing here defines or parses
flags. Importing this module imports neither JAX nor matplotlib: the trainer, the trial runner,
distributed (JAX) and the report are imported by the mode that needs them, and --report alone
never joins a JAX job. A mistake the command line can fix (a flag combination, an invalid
config, sweep file, cluster section or workdir) is raised as UsageError; `usage_errors` is the
one place a library error becomes one, and launch.py turns UsageError into absl's
app.UsageError (exit code 1 with the message).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import ml_collections
from absl import logging

from ecgdepth import cluster, validation
from ecgdepth import sweep as sweep_lib
from ecgdepth import workdir as workdir_lib
from ecgdepth.data.base import DataError

# The modes check_flags picks.
RUN = 'run'  # Train one config here.
SWEEP = 'sweep'  # Run a sweep's trials here (then --report, if asked).
SUBMIT = 'submit'  # --submit=slurm: a run or a sweep as SLURM job(s) (then --report, with --wait).
REPORT = 'report'  # --report alone: an existing sweep workdir's report; no config needed.
EVALUATE = 'evaluate'  # --evaluate=NAME: a finished run scored on (other) data.
STATUS = 'status'  # --status: where a sweep (or run) is now; reads files only.
# The config --evaluate reads when --config is not given: the run's own (configs/workdir.py).
WORKDIR_CONFIG = 'workdir.py'


class UsageError(Exception):
    """The command line cannot run as given; the message says why (launch.py prints it)."""


@contextlib.contextmanager
def usage_errors(*more: type[Exception]) -> Iterator[None]:
    """Turns the library's errors about a config, sweep, cluster section (and `more`) into
    UsageError: the one place that decides which errors are the command line's to fix."""
    try:
        yield
    except (validation.ConfigError, sweep_lib.SweepError, cluster.ClusterError, *more) as error:
        raise UsageError(str(error)) from None


def error_line(error: BaseException, argv: Sequence[str] = ()) -> str:
    """The one line a user needs from an error raised while parsing launch.py's flags (absl's,
    ml_collections' config file and override errors), naming the flag; `argv` the command line.

    ml_collections wraps a mistyped override's "did you mean" in a KeyError inside an
    AttributeError and embeds a config file's traceback in its message: both are unwrapped."""
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__
    for link in chain:  # A missing config field: name the override that asked for it.
        if isinstance(link, (KeyError, AttributeError)):
            text = str(link).encode().decode('unicode_escape')
            field = re.search(r"'([^'\n]+)'", text)
            mean = re.search(r'Did you mean "([^"]+)"', text)
            flag = next(
                (a for a in argv if field and a.startswith('--config.')
                 and a.partition('=')[0].split('.')[-1] == field.group(1)), None,
            )  # fmt: skip
            if flag and field:
                path = flag.partition('=')[0].lstrip('-')
                line = f'{flag}: {path.rpartition(".")[0]} has no field {field.group(1)!r}'
                return line + (f'; did you mean {mean.group(1)!r}?' if mean else '.')
    flag = re.match(r'flag (--[^:]+): ', str(chain[0]))  # absl names the flag: keep it.
    prefix = f'{flag.group(1)}: ' if flag else ''
    text = str(chain[-1]).strip()
    for link in reversed(chain):  # The deepest message that is not a traceback.
        text = str(link).strip()
        if 'No such file or directory' in text:
            path = re.findall(r"No such file or directory: '([^']+)'", text)
            return f'--config: no such file: {path[-1] if path else text.splitlines()[-1]}'
        if text and 'Traceback (most recent call last)' not in text:
            break
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else type(chain[0]).__name__
    return line if line.startswith(prefix) else prefix + line.removeprefix('ValueError: ')


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """The sweep-only flags of launch.py; each field is named as its flag."""

    workers: int = 1  # Local worker processes.
    task_index: int | None = None  # Run only trial i (None: $SLURM_ARRAY_TASK_ID, else all).
    dry_run: bool = False  # List the trials instead.
    retry_failed: bool = False  # Re-run failed trials too.
    claim_timeout: float | None = None  # Seconds to a stale claim (None: trial's default).
    vmap_seeds: bool = False  # Trials that differ only in their seed run as one program.


SWEEP_FLAGS = tuple(field.name for field in dataclasses.fields(SweepOptions))


def usage_error(line: str) -> None:
    """A mistake on the command line: one line on stderr, exit status 2 (no traceback, no
    flag listing: --help prints that)."""
    print(f'launch.py: error: {line}', file=sys.stderr, flush=True)
    sys.exit(2)


def flags_parser(flag_values: Any) -> Any:
    """absl's flags parser for app.run, its errors and the config file's as one line each."""

    def parse(argv: list[str]) -> list[str]:
        try:
            rest = flag_values(argv)
            config = flag_values['config'].value
            if config is not None:
                config.keys()  # A config file that failed to load raises here.
        except Exception as error:  # noqa: BLE001  (whatever parsing raised: named, not dumped)
            usage_error(error_line(error, argv))
        return rest

    return parse


def main(f: Any, args: Sequence[str]) -> int:
    """launch.py's modes on its parsed flags `f` (absl FlagValues) and positional `args`."""
    from ml_collections import config_flags

    config, workdir = f['config'].value, f['workdir'].value
    source = None if config is None else f['config'].config_filename
    options = SweepOptions(**{name: f[name].value for name in SWEEP_FLAGS})
    given = [name for name in SWEEP_FLAGS if f[name].present]
    try:
        mode = check_flags(args, source, sweep=f.sweep, report=f.report, submit=f.submit,
            wait=f.wait, options=options, given=given, evaluate=f.evaluate,
            status=f.status)  # fmt: skip
        if mode == STATUS:
            return status(workdir)
        if mode == EVALUATE:
            return evaluate(config, workdir, f.evaluate, f.eval_split)
        if mode == REPORT:
            return report(workdir)
        if mode == RUN:
            return run(config, workdir)
        overrides = config_flags.get_override_values(f['config'])
        if mode == SWEEP:
            code = sweep(config, workdir, source, overrides, options)
        else:  # --submit=slurm: one run, or with --sweep the sweep's trials.
            source = source if f.sweep else None
            code = submit(config, workdir, source, overrides, options, wait=f.wait)
        return report(workdir, code) if f.report else code
    except UsageError as error:  # The one place a command's error is printed.
        usage_error(str(error))


def check_flags(
    args: Sequence[str],
    source: str | None,
    *,
    sweep: bool = False,
    report: bool = False,
    submit: str = '',
    wait: bool = False,
    options: SweepOptions = SweepOptions(),
    given: Collection[str] = (),
    evaluate: str = '',
    status: bool = False,
) -> str:
    """The flags' cross-checks, before anything runs; returns the mode (RUN, SWEEP, SUBMIT,
    REPORT, EVALUATE or STATUS). `args`: the positional arguments; `source`: the --config value
    (None if absent); `given`: the names of the SWEEP_FLAGS set on the command line."""
    if args:
        raise UsageError(f'Unexpected arguments: {list(args)}')
    if status:
        if sweep or report or submit or wait or evaluate or given:
            raise UsageError(
                '--status only reads WORKDIR: not with --sweep, --report, --submit, --wait, '
                '--evaluate or the sweep flags.'
            )
        return STATUS
    if evaluate:
        if sweep or report or submit or given:
            raise UsageError(
                '--evaluate scores one finished run: not with --sweep, --report, '
                '--submit or the sweep flags.'
            )
        if '/' in evaluate or evaluate in ('.', '..'):
            raise UsageError(f'--evaluate={evaluate!r} names a folder under WORKDIR/eval: no "/".')
        return EVALUATE
    if report and not sweep:
        return REPORT  # Reads files only: no config, no JAX job.
    if source is None:  # --workdir is required by launch.py itself.
        raise UsageError('--config is required (except for --report or --status alone).')
    if wait and not submit:
        raise UsageError('--wait only applies with --submit=slurm.')
    if sweep:
        if report and (options.dry_run or (submit and not wait)):
            raise UsageError(
                '--report needs the trials to have run: not with --dry_run, and with '
                '--submit=slurm only with --wait (or run launch.py --workdir=W --report later).'
            )
        for name in ('workers', 'dry_run'):
            if submit and name in given:
                raise UsageError(
                    f'--{name} runs locally; with --submit=slurm each trial is an array task '
                    '(config.cluster.array_parallelism caps how many run at once).'
                )
        return SUBMIT if submit else SWEEP
    used = [f'--{name}' for name in SWEEP_FLAGS if name in given]
    if used:
        raise UsageError(f'{", ".join(used)} only apply with --sweep.')
    config_file = sweep_lib.split_source(source)[0]
    if sweep_lib.is_sweep_file(config_file):
        raise UsageError(f'{config_file} is a sweep file: add --sweep to run its trials.')
    return SUBMIT if submit else RUN


def _join_job() -> None:
    """Joins the multi-process job this process belongs to, if any: before any JAX computation."""
    from ecgdepth import distributed  # Imports JAX: not on the --report path.

    distributed.initialize()


def _sweep_base(config, overrides) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    # Resources (config.cluster) are not part of any trial's config: see ecgdepth/cluster.py.
    return cluster.without_cluster(config), cluster.run_overrides(overrides)


def run(config: ml_collections.ConfigDict, workdir: str) -> int:
    """Trains one config into workdir (train_and_evaluate), after validating it. Exit code 0."""
    _join_job()
    with usage_errors():
        validation.validate_config(config)
    from ecgdepth.train import train_and_evaluate

    config = cluster.without_cluster(config)
    logging.vlog(1, 'Config:\n%s', config)  # Every field is in config.json.
    with usage_errors(DataError):
        summary = train_and_evaluate(config, workdir)
    logging.info(
        'Status %s, best step %s. Outputs in %s.', summary['status'], summary['best_step'], workdir
    )
    return 0


def sweep(
    config: ml_collections.ConfigDict,
    workdir: str,
    source: str,
    overrides: Mapping[str, Any] | None = None,
    options: SweepOptions = SweepOptions(),
) -> int:
    """Expands and validates every trial of the sweep file `source` ('path.py:arg') on the base
    `config` (the --config flag's, with its command-line `overrides`), then runs them here into
    workdir/<trial id>/ (trial.launch_sweep). Exit code: 1 if a trial failed."""
    _join_job()
    from ecgdepth import trial as trial_lib

    base, base_overrides = _sweep_base(config, overrides)
    stale_after = options.claim_timeout
    with usage_errors():
        validation.validate_cluster(config)
        return trial_lib.launch_sweep(
            source,
            workdir,
            base=base,
            base_overrides=base_overrides,
            task_index=options.task_index,
            workers=options.workers,
            dry_run=options.dry_run,
            retry_failed=options.retry_failed,
            stale_after=workdir_lib.DEFAULT_STALE_AFTER if stale_after is None else stale_after,
            vmap=options.vmap_seeds,
        )


def submit(
    config: ml_collections.ConfigDict,
    workdir: str,
    source: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    options: SweepOptions = SweepOptions(),
    *,
    wait: bool = False,
    argv: Sequence[str] | None = None,
) -> int:
    """--submit=slurm with config.cluster's resources (ecgdepth/cluster.py): one run as one job,
    or with `source` (a sweep file; `overrides` and `options` as for `sweep`) the sweep's
    unfinished trials as one array job, each trial validated here first. `argv`: launch.py's
    flags (default sys.argv[1:]), which every task reruns without --submit, --wait and
    --task_index. `wait` blocks until the jobs end. Exit code: 1 if a waited-for run or trial
    did not finish, else 0."""
    _join_job()
    argv = sys.argv[1:] if argv is None else argv
    if source is None:
        with usage_errors():
            validation.validate_config(config)
            return cluster.submit_run(config, workdir, argv, wait=wait)
    base, base_overrides = _sweep_base(config, overrides)
    with usage_errors():
        validation.validate_cluster(config)
        loaded = sweep_lib.load_sweep(
            source, base=base, base_overrides=base_overrides, vmap=options.vmap_seeds
        )
        return cluster.submit_sweep(
            config,
            loaded.trials,
            workdir,
            argv,
            source=source,
            task_index=options.task_index,
            retry_failed=options.retry_failed,
            wait=wait,
        )


def evaluate_argv(argv: Sequence[str], configs_dir: str) -> list[str]:
    """launch.py's argv with `--config=<configs_dir>/workdir.py:W` put first when --evaluate is
    given without --config, so that --config.data.* overrides apply to the run's own config."""
    argv = list(argv)
    flags = [a.split('=', 1)[0] for a in argv[1:]]
    if '--evaluate' not in flags or '--config' in flags:
        return argv
    workdir = next((a.split('=', 1)[1] for a in argv if a.startswith('--workdir=')), None)
    if workdir is None:
        return argv  # absl then says --workdir is required.
    config = f'--config={os.path.join(configs_dir, WORKDIR_CONFIG)}:{workdir}'
    return [argv[0], config, *argv[1:]]


def evaluate(config: ml_collections.ConfigDict, workdir: str, name: str, split: str) -> int:
    """Scores the finished run in workdir on config's data (ecgdepth/train/evaluate.py) and
    prints the scores. Exit code 0."""
    _join_job()
    with usage_errors(ValueError):
        validation.validate_config(config)
        from ecgdepth.train import evaluate as evaluate_lib

        out = evaluate_lib.evaluate_workdir(config, workdir, name, split)
    test = out['test']
    scores = {k: v for k, v in test.items() if isinstance(v, float)}
    print(f'{out["dataset"]} ({split}): ' + ', '.join(f'{k} {v:.4f}' for k, v in scores.items()))
    return 0


def report(workdir: str, code: int = 0) -> int:
    """Writes the sweep workdir's tables, figures and report.md (report.run) and prints the
    table and the report's path. Returns `code`: the exit code of the sweep it follows."""
    from ecgdepth import report as report_lib  # Only this mode reads the report's modules.
    from ecgdepth import results

    with usage_errors(results.ResultsError):
        written = report_lib.run(workdir)
    print(written.markdown)
    print(f'Report: {written.path}')
    return code


def status(workdir: str, out=None) -> int:
    """Prints where the sweep in workdir is (progress.status_table: each trial's status, a
    running one's step and, once submitted to SLURM, its array task's state; then the counts),
    or a run's status line. Exit code 0; UsageError if workdir holds neither."""
    from ecgdepth import progress

    out = out or sys.stdout
    with usage_errors(workdir_lib.CorruptFile):
        entries = progress.sweep_entries(workdir)
        if entries is None:
            line = progress.run_line(workdir)
            if line is None:
                raise UsageError(
                    f'{workdir} holds neither a sweep ({workdir_lib.SWEEP_FILE}) nor a run '
                    f'({workdir_lib.SUMMARY_FILE} or {workdir_lib.CONFIG_FILE}).'
                )
            print(line, file=out)
            return 0
        states = progress.sweep_states(workdir, entries)
    print(progress.status_table(workdir, states, cluster.sweep_slurm_states(workdir)), file=out)
    busy = any(s.status in (workdir_lib.RUNNING, workdir_lib.PENDING) for s in states)
    start = progress.sweep_start(workdir) if busy else None
    print(progress.counts_line(states, start=start), file=out, flush=True)
    return 0
