"""Compile time of the jitted train step against depth, per model family (scan keeps it flat).

  python benchmarks/compile_time.py [--depths=4,16,64] [--repeats=3] [--out=compile_time.md]

Prints a Markdown table: the median compile time of each family at each depth, and its ratio
to the shallowest depth. Each measurement is a fresh lower+compile of the same step the trainer
uses (train_step with the state donated) on a batch of the reference size.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

from ecgdepth import files, models, spec  # noqa: E402
from ecgdepth.train import optim  # noqa: E402
from ecgdepth.train import state as state_lib  # noqa: E402
from ecgdepth.train import step as step_lib  # noqa: E402

# Reference sizes of the performance issue: (family, spec, time steps, batch).
FAMILIES = {
    'lstm': ('lstm', 'width=64', 1000, 64),
    'dilated_cnn': ('dilated_cnn', 'width=64', 1000, 64),
    'mi_mlp': ('mi_mlp', 'width=256,pool=1', 256, 64),
}


def compile_step(family: str, arg: str, depth: int, time_steps: int, batch_size: int):
    """(seconds, compiled executable) of one fresh lower+compile of the donated train step."""
    config = spec.family_config(family, f'{arg},depth={depth}')
    model = models.build_model(config.model, num_classes=4)
    tx, _ = optim.create_optimizer(config.optim, config.train.num_steps)
    batch = {
        'x': jax.ShapeDtypeStruct((batch_size, time_steps, 1), jnp.float32),
        'y': jax.ShapeDtypeStruct((batch_size,), jnp.int32),
    }
    example = {'x': jnp.zeros((1, time_steps, 1))}
    state = jax.eval_shape(
        lambda: state_lib.create_train_state(model, tx, example, jax.random.PRNGKey(0))
    )
    step = functools.partial(step_lib.train_step, loss_spec=step_lib.LossSpec(4))
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=0).lower(state, batch).compile()
    return time.perf_counter() - start, compiled


def compile_seconds(family: str, arg: str, depth: int, time_steps: int, batch_size: int) -> float:
    return compile_step(family, arg, depth, time_steps, batch_size)[0]


def main(argv):
    del argv
    depths = [int(d) for d in flags.FLAGS.depths]
    lines = [
        '| family | '
        + ' | '.join(f'depth {d} (s)' for d in depths)
        + ' | '
        + ' | '.join(f'{d}/{depths[0]}' for d in depths[1:])
        + ' |',
        '|---|' + '---:|' * (2 * len(depths) - 1),
    ]
    for name, (family, arg, time_steps, batch_size) in FAMILIES.items():
        medians = []
        for depth in depths:
            runs = [
                compile_seconds(family, arg, depth, time_steps, batch_size)
                for _ in range(flags.FLAGS.repeats)
            ]
            medians.append(statistics.median(runs))
        ratios = [m / medians[0] for m in medians[1:]]
        lines.append(
            f'| {name} | '
            + ' | '.join(f'{m:.2f}' for m in medians)
            + ' | '
            + ' | '.join(f'{r:.2f}' for r in ratios)
            + ' |'
        )
        print(lines[-1], flush=True)
    table = '\n'.join(lines) + '\n'
    print(table)
    if flags.FLAGS.out:
        files.write_text(flags.FLAGS.out, table)


if __name__ == '__main__':
    # Defined here, not at import: benchmarks/speed.py imports this module.
    flags.DEFINE_list('depths', ['4', '16', '64'], 'Depths to compile.')
    flags.DEFINE_integer('repeats', 3, 'Compilations per point (median reported).')
    flags.DEFINE_string('out', '', 'Also write the Markdown table here.')
    app.run(main)
