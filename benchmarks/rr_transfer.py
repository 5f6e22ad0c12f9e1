"""Do MIT-BIH's RR features carry S (SVEB) beats from DS1 to DS2? A features-only classifier.

python benchmarks/rr_transfer.py --manual_dir=DIR [--out=benchmarks/results/rr_transfer.json]

Trains a one-hidden-layer MLP on the side features alone (config.data's RR intervals and
ratios, standardised with DS1 training statistics, the loss weighted as configs/ecg/mitbih.py
weighs it) on DS1's training records and reports S and V sensitivity and positive
predictivity on the validation records and on DS2, with each class's mean raw feature per
split. Where a features-only model finds S on DS1's validation records but not on DS2, the
prematurity that defines S differs between the two patient sets, and no signal model fixes
that by reading the same features.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from ecgdepth import data, spec

CLASS_WEIGHTS = (0.22, 12.1, 2.8, 21.8, 0.0)
# The feature sets compared: every RR feature, and the ratios alone (no absolute intervals).
RATIOS = 'rr_prev_local+rr_next_local+rr_prev_next+rr_local_long+rr_prev_long'
FEATURE_SETS = {'all': '', 'ratios': RATIOS}


def fit_mlp(x, y, steps: int, seed: int):
    import jax
    import jax.numpy as jnp
    import optax

    weights = jnp.asarray(CLASS_WEIGHTS)[y]
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    params = {
        'w1': jax.random.normal(k1, (x.shape[1], 32)) * 0.3,
        'b1': jnp.zeros(32),
        'w2': jax.random.normal(k2, (32, 5)) * 0.3,
        'b2': jnp.zeros(5),
    }

    def forward(p, inputs):
        return jnp.maximum(inputs @ p['w1'] + p['b1'], 0) @ p['w2'] + p['b2']

    def loss(p):
        losses = optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y)
        return (losses * weights).sum() / weights.sum()

    opt = optax.adam(1e-2)
    state = opt.init(params)

    @jax.jit
    def step(p, s):
        updates, s = opt.update(jax.grad(loss)(p), s)
        return optax.apply_updates(p, updates), s

    for _ in range(steps):
        params, state = step(params, state)
    return lambda inputs: np.asarray(forward(params, inputs).argmax(-1))


def rates(predicted, truth, label: int) -> dict:
    hits = int(((predicted == label) & (truth == label)).sum())
    return {
        'sensitivity': hits / max(int((truth == label).sum()), 1),
        'ppv': hits / max(int((predicted == label).sum()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--manual_dir', required=True)
    parser.add_argument('--data_dir', default='')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--out', default='')
    args = parser.parse_args()
    config = spec.family_config('dilated_cnn', 'data=mitbih,data.sample_rate=180')
    config.data.manual_dir, config.data.data_dir = args.manual_dir, args.data_dir
    config.data.feature_norm = 'none'
    raw = data.load(config.data)
    out = {'features': list(raw.feature_names), 'class_weights': CLASS_WEIGHTS, 'sets': {}}
    out['class_means'] = {
        split: {
            cls: [float(v) for v in arrays['features'][arrays['y'] == i].mean(0)]
            for i, cls in enumerate(raw.class_names)
            if (arrays['y'] == i).any()
        }
        for split, arrays in raw.splits.items()
    }
    config.data.feature_norm = 'zscore'
    for name, features in FEATURE_SETS.items():
        config.data.features = features
        normed = data.load(config.data)
        train = normed.splits['train']
        seeds = []
        for seed in range(args.seeds):
            predict = fit_mlp(train['features'], train['y'], args.steps, seed)
            result = {'seed': seed}
            for split in ('validation', 'test'):
                arrays = normed.splits[split]
                predicted = predict(arrays['features'])
                result[split] = {
                    c: rates(predicted, arrays['y'], i) for i, c in ((1, 'S'), (2, 'V'))
                }
            seeds.append(result)
            print(name, json.dumps(result))
        out['sets'][name] = {'features': list(normed.feature_names), 'seeds': seeds}
    if args.out:
        with open(args.out + '.tmp', 'w') as f:
            json.dump(out, f, indent=1)
        os.replace(args.out + '.tmp', args.out)


if __name__ == '__main__':
    main()
