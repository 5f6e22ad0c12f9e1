"""TensorBoard event files: each metrics.jsonl record's numbers as scalars, where the field's
tools read them (`tensorboard --logdir W` shows every run, sweep trial and seed).

Written with tensorboardX, so no TensorFlow is needed. Tags follow the record's nesting:
'train/loss', 'train/learning_rate', 'train/grad_norm', 'train/steps_per_second',
'eval/validation/accuracy', 'eval/train/loss', 'diagnostics/grad_norm_ratio' (step 0 and every
evaluation on one curve), 'diverged'. Lists (confusion matrices, per-layer norms, the input
sensitivity profile) and non-finite values stay in metrics.jsonl only.
"""

from __future__ import annotations

import math
import shutil

from tensorboardX import SummaryWriter

# Train-record keys whose tag is spelled out (TensorBoard shows tags, not our shorthand).
TRAIN_TAGS = {'steps_per_s': 'steps_per_second'}


def flatten(tree: dict, prefix: str) -> dict[str, float]:
    """The finite numbers of a nested dict by '/'-joined tag; other values are left out."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f'{prefix}{key}/'))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                out[f'{prefix}{key}'] = float(value)
    return out


def scalars(record: dict) -> dict[str, float]:
    """One metrics.jsonl record (type train, eval, diagnostics or diverged) as tag -> value."""
    kind = record['type']
    values = {k: v for k, v in record.items() if k not in ('type', 'step')}
    if kind == 'train':
        return flatten({TRAIN_TAGS.get(k, k): v for k, v in values.items()}, 'train/')
    if kind == 'eval':
        probe = values.pop('diagnostics', {})
        return {**flatten(values, 'eval/'), **flatten(probe, 'diagnostics/')}
    if kind == 'diverged':
        return {'diverged': 1.0}
    return flatten(values, f'{kind}/')


class EventWriter:
    """One member's event files, in `directory`.

    A fresh run (`start_step` 0) clears what an earlier attempt left there, as metrics.jsonl
    starts empty; a resumed run writes a new file that starts with a purge at start_step + 1,
    so TensorBoard drops what the interrupted attempt logged after the checkpoint. The file
    name carries start_step: attempts within one second get files of their own, in order.
    """

    def __init__(self, directory: str, start_step: int):
        if start_step == 0:
            shutil.rmtree(directory, ignore_errors=True)
        self._writer = SummaryWriter(
            directory,
            purge_step=start_step + 1 if start_step else None,
            filename_suffix=f'.{start_step:09d}',
        )

    def write(self, record: dict) -> None:
        """The record's scalars at its step, flushed (a killed run loses none)."""
        for tag, value in scalars(record).items():
            self._writer.add_scalar(tag, value, record['step'])
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
