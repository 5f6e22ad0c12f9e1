"""What a finished (or stopped) run reports: the parts of its workdir.Summary, and log text."""

from __future__ import annotations

import math
import os

from ecgdepth import workdir as workdir_lib
from ecgdepth.train.members import Member

# Dataset.info keys (prefixes) copied into summary.json: what findings need of the data, the
# side-feature statistics (feature_norm) and what a reader of real files dropped (dropped).
SUMMARY_INFO = ('label_noise', 'motif_span_samples', 'feature_norm', 'dropped')
# Diagnostics at step 0 that the summary keeps, as '<key>_init' (the first always, if any).
INIT_DIAGNOSTICS = ('grad_norm_per_layer', 'hidden_grad_time_slope', 'hidden_grad_layer_slope')


def member_status(member: Member, preempted: bool) -> str:
    """'preempted' if the run stopped early, 'diverged' if this seed did, else 'done'."""
    if preempted:
        return workdir_lib.PREEMPTED
    return workdir_lib.DIVERGED if not member.live else workdir_lib.DONE


def dataset_info(info: dict) -> dict:
    """The entries of Dataset.info the summary keeps (SUMMARY_INFO)."""
    return {k: v for k, v in info.items() if k.startswith(SUMMARY_INFO)}


def initial_diagnostics(record: dict | None) -> dict:
    """The step-0 diagnostics record's INIT_DIAGNOSTICS as Summary fields '<key>_init'."""
    if record is None:
        return {}
    first, rest = INIT_DIAGNOSTICS[0], INIT_DIAGNOSTICS[1:]
    return {
        f'{first}_init': record[first],
        **{f'{key}_init': record[key] for key in rest if key in record},
    }


def gap(val: dict, train: dict, regression: bool) -> dict:
    """At the best step: val - train loss, and (classification) train - val accuracy."""
    out = {'loss': val['loss'] - train['loss']}
    if not regression:
        out['accuracy'] = train['accuracy'] - val['accuracy']
    return out


def group_summary(
    select_metric: str,
    workdir: str,
    members: list[Member],
    summaries: list[workdir_lib.Summary],
    wall_time_s: float,
) -> workdir_lib.Summary:
    """The summary of a vmapped-seeds run: its status and where each seed's summary is.

    'preempted' if it stopped early, 'diverged' if every seed did, else 'done' (each seed's own
    summary.json says whether it diverged).
    """
    statuses = [s.status for s in summaries]
    if workdir_lib.PREEMPTED in statuses:
        status = workdir_lib.PREEMPTED
    elif all(s == workdir_lib.DIVERGED for s in statuses):
        status = workdir_lib.DIVERGED
    else:
        status = workdir_lib.DONE
    group = workdir_lib.Summary(
        status=status,
        select_metric=select_metric,
        params=summaries[0].params,
        best_step=None,
        wall_time_s=wall_time_s,
        vmap_seeds=len(members),
        members=[
            {
                'seed': m.seed,
                'dir': os.path.relpath(m.workdir, workdir),
                'status': s.status,
                'best_step': s.best_step,
            }
            for m, s in zip(members, summaries, strict=True)
        ],
    )
    if status == workdir_lib.PREEMPTED:
        group.preempted_step = summaries[0].preempted_step
    if status == workdir_lib.DIVERGED:
        group.diverged_step = min(s.diverged_step for s in summaries)
    return group


def brief(result: dict | None, scores=()) -> str:
    """One log line's metrics; `scores`: the dataset's own (e.g. challenge_f1) too."""
    if not result:
        return 'n/a'
    if 'mse' in result:
        return f'mse {result["mse"]:.4f} mae {result["mae"]:.4f} r2 {result["r2"]:.3f}'
    text = f'acc {result["accuracy"]:.3f} macro-F1 {result["macro_f1"]:.3f}'
    for score in scores:
        if isinstance(result.get(score), float):
            text += f' {score} {result[score]:.3f}'
    return f'{text} loss {result["loss"]:.4f}'


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'
