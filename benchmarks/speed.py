"""Speed of each model family: step time against PyTorch, FLOP/s against the machine's matmul
peak, compile time against depth, input-pipeline overhead, memory at depth 64, speed levers.

    pip install -r requirements.txt -r benchmarks/requirements.txt   # adds the CPU torch
    python benchmarks/speed.py --out benchmarks/results/speed.md [--data mitbih --manual_dir DIR]
    python benchmarks/speed.py --quick --no_torch                     # smoke run, tiny sizes

Why: an ablation grid is hundreds of trainings, so step speed and compile time decide what a
researcher can afford. Everything is measured in one run on one machine, and every comparison is
interleaved: the contenders take turns, round after round, and a ratio is the median of the
per-round ratios, so a machine whose load drifts (a shared one) biases no side. Step times are
the real ecgdepth train step (ecgdepth/train/step.py, jitted with the state donated, as in
training) on a batch already on the device; the PyTorch models are the same architectures with
the same optimiser (AdamW, global-norm clipping) and batch.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import compile_time, levers  # noqa: E402
from ecgdepth import files, models  # noqa: E402
from ecgdepth import spec as spec_lib  # noqa: E402
from ecgdepth.train import optim  # noqa: E402
from ecgdepth.train import state as state_lib  # noqa: E402
from ecgdepth.train import step as step_lib  # noqa: E402

TORCH_MISSING = (
    'PyTorch is not installed, and the comparison needs it: '
    'pip install -r benchmarks/requirements.txt (or pass --no_torch to skip the comparison).'
)
NUM_CLASSES = 4
FAMILIES = ('lstm', 'dilated_cnn', 'mi_mlp')


def reference_sizes(quick: bool) -> dict[str, dict]:
    """The issue's reference sizes per family (tiny ones for --quick)."""
    if quick:
        return {
            'lstm': dict(spec='depth=2,width=8', time=32, batch=8),
            'dilated_cnn': dict(spec='depth=4,width=8', time=32, batch=8),
            'mi_mlp': dict(spec='depth=2,width=16,pool=1', time=16, batch=8),
        }
    return {
        'lstm': dict(spec='depth=4,width=64', time=1000, batch=64),
        'dilated_cnn': dict(spec='depth=8,width=64', time=1000, batch=64),
        'mi_mlp': dict(spec='depth=4,width=256,pool=1', time=256, batch=64),
    }


def block(tree) -> None:
    jax.block_until_ready(tree)


class JaxStep:
    """The real ecgdepth train step of one family on a batch already on the device.

    `run()` does one step and waits for it; the state is donated, as in training.
    """

    def __init__(self, family: str, spec: str, time_steps: int, batch_size: int, batch=None):
        self.config = spec_lib.family_config(family, spec)
        self.model = models.build_model(self.config.model, NUM_CLASSES)
        self.tx, _ = optim.create_optimizer(self.config.optim, self.config.train.num_steps)
        if batch is None:
            rng = np.random.default_rng(0)
            batch = {
                'x': rng.standard_normal((batch_size, time_steps, 1), np.float32),
                'y': rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32),
            }
        self.batch = jax.device_put(batch)
        self.batch_size = len(batch['y'])
        self.state = state_lib.create_train_state(
            self.model, self.tx, self.batch, jax.random.PRNGKey(0)
        )
        self.compiled = None

    def compile(self) -> JaxStep:
        """Traces and compiles the step (levers are read now: call inside one)."""
        step = functools.partial(step_lib.train_step, loss_spec=step_lib.LossSpec(NUM_CLASSES))
        lowered = jax.jit(step, donate_argnums=0).lower(self.state, self.batch)
        self.compiled = lowered.compile(compiler_options=dict(levers.compiler_options) or None)
        return self

    def run(self) -> None:
        self.state, metrics = self.compiled(self.state, self.batch)
        block(metrics)

    def cost_flops(self) -> float | None:
        """FLOPs of one step from XLA's cost analysis of the unrolled (scan=False) program.

        XLA counts a loop body once whatever its trip count, so the layer scan is unrolled; a
        loop over time (the LSTM's) would still be counted once: use `lstm_flops` there.
        """
        model = self.model.clone(scan=False)
        params = models.unscan_params(self.model, self.state.params)
        state = self.state.replace(
            params=params, opt_state=self.tx.init(params), apply_fn=model.apply
        )
        step = functools.partial(step_lib.train_step, loss_spec=step_lib.LossSpec(NUM_CLASSES))
        analysis = jax.jit(step).lower(state, self.batch).cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0] if analysis else None
        return float(analysis['flops']) if analysis and 'flops' in analysis else None


def lstm_flops(config, time_steps: int, batch_size: int, channels: int = 1) -> float:
    """Analytic matmul FLOPs of one LSTM train step: 3x the forward's (the backward does two
    matmuls per forward one); elementwise gate maths and the head are left out (< 2%)."""
    width, depth = config.model.width, config.model.depth
    dirs = 2 if config.model.bidirectional else 1
    forward = 0
    for layer in range(depth):
        n_in = channels if layer == 0 else width * dirs
        forward += dirs * 2 * batch_size * time_steps * (n_in + width) * 4 * width
    return 3.0 * forward


class TorchStep:
    """The same architecture in PyTorch, trained with AdamW and global-norm clipping."""

    def __init__(self, family: str, spec: str, time_steps: int, batch_size: int):
        import torch

        self.torch = torch
        config = spec_lib.family_config(family, spec).model
        torch.manual_seed(0)
        self.model = torch_model(family, config, time_steps)
        opt = spec_lib.family_config(family, spec).optim
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=opt.learning_rate,
            betas=(opt.b1, opt.b2),
            weight_decay=opt.weight_decay,
        )
        self.clip = opt.grad_clip_norm
        self.x = torch.randn(batch_size, time_steps, 1)
        self.y = torch.randint(0, NUM_CLASSES, (batch_size,))

    def run(self) -> None:
        torch = self.torch
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(self.x)
        loss = torch.nn.functional.cross_entropy(logits, self.y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()
        (logits.argmax(-1) == self.y).float().mean().item()  # Like ecgdepth's metrics: a sync.


def torch_model(family: str, config, time_steps: int):
    """PyTorch twins of the ecgdepth reference models (defaults of ecgdepth/models/<family>.py)."""
    import torch
    from torch import nn

    width, depth = config.width, config.depth
    if family == 'lstm':

        class LSTM(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(1, width, num_layers=depth, batch_first=True)
                self.head = nn.Linear(width, NUM_CLASSES)

            def forward(self, x):
                return self.head(self.rnn(x)[0][:, -1])

        return LSTM()
    if family == 'dilated_cnn':
        k = config.kernel_size

        class CNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv1d(1, width, 1)
                self.convs = nn.ModuleList(
                    nn.Conv1d(width, width, k, dilation=2 ** (i % config.dilation_cycle))
                    for i in range(depth)
                )
                self.head = nn.Linear(width, NUM_CLASSES)

            def forward(self, x):
                x = self.stem(x.transpose(1, 2))
                for conv in self.convs:  # causal padding, ReLU, residual (the config default)
                    x = x + torch.relu(conv(nn.functional.pad(x, ((k - 1) * conv.dilation[0], 0))))
                return self.head(x.mean(-1))

        return CNN()
    if family == 'mi_mlp':
        rank, dz = config.rank, time_steps

        class MILinear(nn.Module):
            def __init__(self, dx):
                super().__init__()
                self.u = nn.Linear(dz, width, bias=False)
                self.v = nn.Linear(dx, width)
                self.a = nn.Linear(dz, rank, bias=False)
                self.b = nn.Linear(dx, rank, bias=False)
                self.c = nn.Linear(rank, width, bias=False)

            def forward(self, x, z):
                return self.u(z) + self.v(x) + self.c(self.a(z) * self.b(x))

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(MILinear(dz if i == 0 else width) for i in range(depth))
                self.head = nn.Linear(width, NUM_CLASSES)

            def forward(self, x):
                z = x = x.flatten(1)
                for layer in self.layers:
                    x = torch.relu(layer(x, z))
                return self.head(x)

        return MLP()
    raise ValueError(f'No PyTorch twin for family {family!r}.')


def interleaved(runners: dict[str, Callable[[], None]], rounds: int, warmup: int) -> dict:
    """Times the runners in turns: per round, each runs once (order rotating).

    Returns {name: list of seconds}, index = round. Each runner is first run `warmup` times.
    """
    for run in runners.values():
        for _ in range(warmup):
            run()
    names = list(runners)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator/denominator: each pair ran at nearly the same time."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


class MatmulPeak:
    """A dense fp32 square matmul through jit: the machine's attainable FLOP/s.

    It runs in the same interleaved rounds as the train steps, so each round's fraction of peak
    compares two things measured under the same load.
    """

    def __init__(self, n: int):
        self.a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32))
        self.f = jax.jit(lambda a, b: a @ b)
        self.flops = 2.0 * n**3
        block(self.f(self.a, self.a))

    def run(self) -> None:
        block(self.f(self.a, self.a))

    def flops_per_s(self, repeats: int) -> float:
        return self.flops / statistics.median(interleaved({'mm': self.run}, repeats, 1)['mm'])


def machine_info(with_torch: bool) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    lines = [
        f'- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC',
        f'- CPU: {cpu}, {os.cpu_count()} cores; jax backend: {jax.default_backend()} '
        f'({jax.devices()[0].device_kind})',
        f'- python {platform.python_version()}, jax {jax.__version__}, '
        f'jaxlib {jax.lib.__version__ if hasattr(jax.lib, "__version__") else "?"}',
    ]
    try:
        lines.append(f'- load average (1, 5, 15 min) at the start: {os.getloadavg()}')
    except OSError:
        pass
    if with_torch:
        import torch

        lines.append(f'- torch {torch.__version__}, {torch.get_num_threads()} threads')
    return lines


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    out += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return out


def ms(seconds: float) -> str:
    return f'{1e3 * seconds:.1f}'


def step_section(args, sizes, peak: MatmulPeak, results: dict) -> list[str]:
    """Step times, PyTorch's, and the fraction of matmul peak, all in the same rounds."""
    rows = []
    for family, size in sizes.items():
        print(f'[speed] step time: {family}', flush=True)
        mine = JaxStep(family, size['spec'], size['time'], size['batch']).compile()
        runners = {'ecgdepth': mine.run, 'matmul': peak.run}
        if args.torch:
            runners['pytorch'] = TorchStep(family, size['spec'], size['time'], size['batch']).run
        times = interleaved(runners, args.rounds, args.warmup)
        median = statistics.median(times['ecgdepth'])
        if family == 'lstm':
            flops, source = lstm_flops(mine.config, size['time'], size['batch']), 'analytic'
        else:
            flops, source = mine.cost_flops(), 'XLA, unrolled'
        # Per round: (flops / step time) / (matmul flops / matmul time), both measured together.
        ratio_to_matmul = paired_ratio(times['matmul'], times['ecgdepth'])
        fraction = flops / peak.flops * ratio_to_matmul if flops else float('nan')
        ratio = paired_ratio(times['pytorch'], times['ecgdepth']) if args.torch else None
        results[family] = {'fraction': fraction, 'torch_ratio': ratio}
        rows.append(
            [
                family,
                f'{size["spec"]}, T={size["time"]}, B={size["batch"]}',
                ms(median),
                f'{size["batch"] / median:.0f}',
                ms(statistics.median(times['pytorch'])) if args.torch else 'n/a',
                f'{ratio:.2f}' if ratio else 'n/a',
                f'{flops / 1e9:.2f} ({source})' if flops else 'n/a',
                f'{flops / median / 1e9:.1f}' if flops else 'n/a',
                f'{peak.flops / statistics.median(times["matmul"]) / 1e9:.0f}',
                f'{100 * fraction:.1f}%',
            ]
        )
    header = [
        'family',
        'size',
        'ecgdepth step (ms)',
        'examples/s',
        'PyTorch step (ms)',
        'PyTorch / ecgdepth',
        'GFLOP per step',
        'GFLOP/s',
        'matmul GFLOP/s, same rounds',
        '% of matmul peak',
    ]
    return table(header, rows)


# Other forms of a family whose compile time is measured too (after the default forms).
COMPILE_FORMS = [('dilated_cnn', 'scan_unit=block')]


def compile_section(args, sizes, results: dict) -> tuple[list[str], list[str]]:
    """Compile time against depth (benchmarks/compile_time.py) and memory at the deepest."""
    depths = args.depths
    rows, memory_rows = [], []
    forms = [(family, size, '') for family, size in sizes.items()]
    forms += [(f, sizes[f], extra) for f, extra in COMPILE_FORMS if f in sizes]
    for family, size, extra in forms:
        label = f'{family} ({extra})' if extra else family
        print(f'[speed] compile time: {label}', flush=True)
        spec = ','.join(p for p in size['spec'].split(',') if not p.startswith('depth='))
        spec = ','.join(filter(None, [spec, extra]))
        medians, compiled = [], None
        for depth in depths:
            runs = []
            for _ in range(args.compile_repeats):
                seconds, compiled = compile_time.compile_step(
                    family, spec, depth, size['time'], size['batch']
                )
                runs.append(seconds)
            medians.append(statistics.median(runs))
        ratios = [m / medians[0] for m in medians[1:]]
        results.setdefault(label, {})['compile_ratio'] = ratios[-1] if ratios else 1.0
        rows.append([label, *(f'{m:.2f}' for m in medians), *(f'{r:.2f}' for r in ratios)])
        # Memory at the deepest depth, as compiled above and with each scanned layer remat'd.
        _, remat = compile_time.compile_step(
            family, f'{spec},remat=true', depths[-1], size['time'], size['batch']
        )
        for remat_label, executable in (('no', compiled), ('yes', remat)):
            memory_rows.append([label, depths[-1], remat_label, *memory_mib(executable)])
    header = [
        'family',
        *(f'depth {d} (s)' for d in depths),
        *(f'{d} / {depths[0]}' for d in depths[1:]),
    ]
    memory_header = [
        'family',
        'depth',
        'remat',
        'arguments (MiB)',
        'temporaries (MiB)',
        'new outputs (MiB)',
        'peak (MiB)',
    ]
    return table(header, rows), table(memory_header, memory_rows)


def memory_mib(compiled) -> list[str]:
    """Arguments, temporaries, new (non-aliased) outputs and their sum, from XLA's buffer
    assignment: the step's peak memory as compiled (the donated state is reused in place)."""
    memory = compiled.memory_analysis()
    if memory is None:
        return ['n/a'] * 4
    mb = 2.0**20
    parts = [
        memory.argument_size_in_bytes / mb,
        memory.temp_size_in_bytes / mb,
        (memory.output_size_in_bytes - memory.alias_size_in_bytes) / mb,
    ]
    return [f'{p:.1f}' for p in parts] + [f'{sum(parts):.1f}']


def pipeline_section(args, results: dict) -> list[str]:
    """End-to-end steps/s of the real trainer against the same step on a pre-placed batch."""
    from ecgdepth import data as data_lib
    from ecgdepth.train import loop

    family = 'dilated_cnn'
    spec = 'depth=4,width=8' if args.quick else 'depth=8,width=64'
    config = spec_lib.family_config(family, f'{spec},data={args.data}')
    if args.data == 'mitbih':
        config.data.manual_dir = args.manual_dir
    else:
        if args.quick:  # The shortest window the synthetic rhythms allow (2 s at 125 Hz).
            config.data.num_train, config.data.window = 64, 250
            config.data.num_validation = config.data.num_test = 32
    if args.data_dir:
        config.data.data_dir = args.data_dir
    batch_size = 8 if args.quick else 64
    config.train.batch_size = batch_size
    config.train.num_steps = args.e2e_steps
    config.train.log_every = max(1, args.e2e_steps // 4)
    config.train.eval_every = args.e2e_steps
    config.train.checkpoint_every = 0
    config.train.diagnostics = False
    config.optim.warmup_steps = min(config.optim.warmup_steps, args.e2e_steps // 2)
    config.train.eval_train_examples = 0
    print(f'[speed] input pipeline: {args.data}', flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        summary = loop.train_and_evaluate(config, workdir)
    end_to_end = summary['steps_per_s']
    train = data_lib.load(config.data).splits['train']
    batch = {key: np.asarray(value[:batch_size]) for key, value in train.items()}
    mine = JaxStep(family, spec, 0, batch_size, batch=batch).compile()
    times = interleaved({'step': mine.run}, args.rounds, args.warmup)['step']
    on_device = 1.0 / statistics.median(times)
    fraction = end_to_end / on_device
    results['pipeline_fraction'] = fraction
    shape = 'x'.join(str(n) for n in np.shape(batch['x'])[1:])
    row = [
        f'{args.data} ({shape} per example)',
        f'{family} {spec}, B={batch_size}',
        f'{end_to_end:.2f}',
        f'{on_device:.2f}',
        f'{100 * fraction:.0f}%',
    ]
    header = [
        'data',
        'model',
        'end-to-end steps/s',
        'steps/s, batch on device',
        'wall time in compiled steps',
    ]
    return table(header, [row])


SLOW_LEVER = 5.0  # A variant this many times slower than the baseline is timed once, not in rounds.


def lever_section(args, sizes) -> list[str]:
    """Each lever's step against ecgdepth's own (the family's first row), in paired rounds.

    Each variant's first step (after compiling) is timed once. One that takes SLOW_LEVER times
    the baseline's first step or more (XLA:CPU's own convolution backward inside a scan: minutes
    a step) is reported from that step alone, so it cannot hold up the run; at such a factor the
    load cannot change the verdict.
    """
    rows = []
    for family in dict.fromkeys(family for family, *_ in levers.LEVERS if family in sizes):
        size = sizes[family]
        runners, first = {}, {}
        for fam, name, context, overrides in levers.LEVERS:
            if fam == family:
                print(f'[speed] lever: {family}: {name}', flush=True)
                spec = ','.join(filter(None, [size['spec'], overrides]))
                with context():  # The lever is read while the step is traced.
                    mine = JaxStep(family, spec, size['time'], size['batch'])
                    runners[name] = mine.compile().run
                start = time.perf_counter()
                runners[name]()
                first[name] = time.perf_counter() - start
        baseline = next(iter(runners))
        slow = {n for n in runners if first[n] >= SLOW_LEVER * first[baseline]}
        fast = {n: run for n, run in runners.items() if n not in slow}
        times = interleaved(fast, args.rounds, max(args.warmup - 1, 0))
        for name in runners:
            if name in slow:
                step, ratio = first[name], first[baseline] / first[name]
                name += f' (first step only: >= {SLOW_LEVER:g}x slower)'
            else:
                step = statistics.median(times[name])
                ratio = paired_ratio(times[baseline], times[name])
            rows.append([family, name, ms(step), f'{ratio:.2f}'])
    return table(['family', 'variant', 'step (ms)', 'speed-up vs first row'], rows)


def seeds_section(args, sizes) -> list[str]:
    """N seeds as one vmapped step against N sequential steps (worth it on a GPU)."""
    family = 'dilated_cnn' if 'dilated_cnn' in sizes else next(iter(sizes))
    size, n = sizes[family], args.seeds
    mine = JaxStep(family, size['spec'], size['time'], size['batch']).compile()
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    states = jax.vmap(
        lambda key: state_lib.create_train_state(mine.model, mine.tx, mine.batch, key)
    )(keys)
    step = functools.partial(step_lib.train_step, loss_spec=step_lib.LossSpec(NUM_CLASSES))
    vmapped = jax.jit(jax.vmap(step, in_axes=(0, None)), donate_argnums=0)
    holder = {'states': states}

    def run_vmapped():
        holder['states'], metrics = vmapped(holder['states'], mine.batch)
        block(metrics)

    def run_sequential():
        for _ in range(n):
            mine.run()

    times = interleaved({'vmap': run_vmapped, 'seq': run_sequential}, args.rounds, args.warmup)
    row = [
        f'{family} {size["spec"]}',
        n,
        ms(statistics.median(times['vmap'])),
        ms(statistics.median(times['seq'])),
        f'{paired_ratio(times["seq"], times["vmap"]):.2f}',
    ]
    header = ['model', 'seeds', 'vmapped step (ms)', 'sequential steps (ms)', 'speed-up']
    return table(header, [row])


def targets(results: dict) -> list[str]:
    rows = []

    def add(name, value, goal, ok):
        rows.append([name, value, goal, 'met' if ok else 'missed'])

    for family in ('lstm', 'dilated_cnn'):
        ratio = results.get(family, {}).get('torch_ratio')
        if ratio is not None:
            add(f'{family}: PyTorch / ecgdepth step time', f'{ratio:.2f}', '>= 1.3', ratio >= 1.3)
    for family, goal in (('dilated_cnn', 0.40), ('lstm', 0.25)):
        fraction = results.get(family, {}).get('fraction')
        if fraction is not None:
            add(
                f'{family}: % of matmul peak',
                f'{100 * fraction:.1f}%',
                f'>= {goal:.0%}',
                fraction >= goal,
            )
    compiled = ['lstm', 'dilated_cnn', 'mi_mlp'] + [f'{f} ({extra})' for f, extra in COMPILE_FORMS]
    for family in compiled:
        ratio = results.get(family, {}).get('compile_ratio')
        if ratio is not None:
            add(
                f'{family}: compile time, deepest / shallowest',
                f'{ratio:.2f}',
                '<= 1.5',
                ratio <= 1.5,
            )
    if 'pipeline_fraction' in results:
        fraction = results['pipeline_fraction']
        add('wall time inside compiled steps', f'{100 * fraction:.0f}%', '>= 95%', fraction >= 0.95)
    return table(['target', 'measured', 'goal', ''], rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='', help='Also write the Markdown report here.')
    parser.add_argument('--quick', action='store_true', help='Tiny sizes: a smoke run.')
    parser.add_argument('--no_torch', dest='torch', action='store_false', help='Skip PyTorch.')
    parser.add_argument(
        '--torch_threads', type=int, default=0, help='torch.set_num_threads (0: its default).'
    )
    parser.add_argument('--rounds', type=int, default=None, help='Timed rounds per comparison.')
    parser.add_argument('--warmup', type=int, default=2, help='Untimed steps per contender.')
    parser.add_argument('--depths', default=None, help='Compile-time depths, e.g. 4,16,64.')
    parser.add_argument('--compile_repeats', type=int, default=None)
    parser.add_argument('--data', default='synthetic', choices=['synthetic', 'mitbih'])
    parser.add_argument('--manual_dir', default='', help='MIT-BIH WFDB files (--data mitbih).')
    parser.add_argument('--data_dir', default='', help='TFDS data dir ("" = the default).')
    parser.add_argument('--e2e_steps', type=int, default=None, help='Steps of the e2e run.')
    parser.add_argument('--seeds', type=int, default=0, help='vmapped seeds (default: 8 on GPU).')
    parser.add_argument(
        '--sections',
        default='step,compile,pipeline,levers,seeds',
        help='Comma-separated subset of step,compile,pipeline,levers,seeds.',
    )
    parser.add_argument(
        '--families', default='lstm,dilated_cnn,mi_mlp', help='Comma-separated families.'
    )
    args = parser.parse_args(argv)
    args.families = args.families.split(',')
    unknown = sorted(set(args.families) - set(FAMILIES))
    if unknown:
        parser.error(f'--families: unknown {unknown}; choose from {sorted(FAMILIES)}.')
    args.rounds = args.rounds or (3 if args.quick else 9)
    args.depths = [int(d) for d in (args.depths or ('2,4' if args.quick else '4,16,64')).split(',')]
    args.compile_repeats = args.compile_repeats or (1 if args.quick else 2)
    args.e2e_steps = args.e2e_steps or (8 if args.quick else 200)
    if not args.seeds and jax.default_backend() == 'gpu':
        args.seeds = 8
    args.sections = set(args.sections.split(','))
    if args.data == 'mitbih' and not args.manual_dir:
        parser.error('--data mitbih needs --manual_dir (the folder of MIT-BIH WFDB files).')
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    if args.torch:
        try:
            import torch
        except ImportError:
            sys.exit(TORCH_MISSING)
        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
    sizes = {f: size for f, size in reference_sizes(args.quick).items() if f in args.families}
    results: dict = {}
    report = ['# ecgdepth speed', '', *machine_info(args.torch)]
    print('[speed] matmul peak', flush=True)
    peak = MatmulPeak(256 if args.quick else 2048)
    report += [
        f'- dense fp32 {len(peak.a)}x{len(peak.a)} matmul through jit, at the start: '
        f'{peak.flops_per_s(args.rounds) / 1e9:.0f} GFLOP/s (the train-step table divides by the '
        'same matmul timed in the same rounds as the steps)',
        '',
    ]
    if 'step' in args.sections:
        report += [
            '## Train step (median after warm-up)',
            '',
            *step_section(args, sizes, peak, results),
            '',
        ]
    if 'compile' in args.sections:
        compile_table, memory_table = compile_section(args, sizes, results)
        report += ['## Compile time against depth', '', *compile_table, '']
        report += ["## Memory of the train step at the deepest depth (XLA's buffer analysis)", '']
        report += [*memory_table, '']
    if 'levers' in args.sections:
        report += ['## Levers (paired rounds, one run)', '', *lever_section(args, sizes), '']
    if 'seeds' in args.sections and args.seeds:
        report += ['## Seeds: vmapped against sequential', '', *seeds_section(args, sizes), '']
    if 'pipeline' in args.sections:  # Last: the trainer turns on a persistent compilation cache.
        report += ['## Input pipeline', '', *pipeline_section(args, results), '']
    report += ['## Targets', '', *targets(results), '']
    text = '\n'.join(report)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        files.write_text(args.out, text)
    return text


if __name__ == '__main__':
    main()
