"""Measurements that separate the five explanations of why CNNs go deep and LSTMs stay shallow.

Each is a pure function of a model, its parameters and a batch, cheap enough to run on a fixed
handful of validation examples at evaluation steps:

- size and reach: FLOPs per example (XLA's cost analysis) and the theoretical receptive field;
- gradient flow across layers: the gradient norm of each layer's parameters (scanned layers are
  sliced along their stacked axis);
- input sensitivity: |d logit / d x_t| against the lag from the end of the window, i.e. the
  empirical receptive field (effective memory), with the lags holding 50% and 90% of the mass;
- gradient flow across time (recurrent family): the norm of d loss / d x_t at each recurrent
  layer's input against the lag, i.e. the gradient after it has crossed that layer's recurrence
  (and every layer above), summarised as the slope of its log10 per time step and per layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ecgdepth import models
from ecgdepth.models.layers import sequence_lengths

# Lags of the stored d loss / d x_t curves: log-spaced bins keep the first steps, where the
# gradient falls fastest, and the tail, in few numbers (the slopes use every lag).
HIDDEN_GRAD_POINTS = 48


def flops_per_example(model: nn.Module, params, batch: dict) -> float | None:
    """Forward FLOPs per example: the model's analytic count (`model.flops`, e.g. the recurrent
    family's), else XLA's cost analysis of the inference program.

    XLA counts a loop body once whatever its trip count, so a scanned model is analysed in
    its unrolled form (same parameters; lowered only, never compiled). A loop over time would
    still be counted once, T times too few: a family with one counts analytically.
    """
    x = batch['x']
    features = batch['features'].shape[-1] if 'features' in batch else 0
    analytic = model.flops(time=x.shape[1], channels=x.shape[2], features=features)
    if analytic is not None:
        return analytic
    return xla_flops_per_example(model, params, batch)


def xla_flops_per_example(model: nn.Module, params, batch: dict) -> float | None:
    """Forward FLOPs per example from XLA's cost analysis (loops counted once)."""
    if getattr(model, 'scan', False):
        params = models.unscan_params(model, params)
        model = model.clone(scan=False)
    fn = jax.jit(lambda p, x, extra: model.apply({'params': p}, x, **extra))
    analysis = fn.lower(params, batch['x'], _model_inputs(batch)).cost_analysis()
    if isinstance(analysis, Sequence):  # Some versions return one dict per program.
        analysis = analysis[0] if analysis else None
    if not analysis or 'flops' not in analysis:
        return None
    return float(analysis['flops']) / batch['x'].shape[0]


def receptive_field(model, sample_rate: float, window: int) -> dict:
    """Theoretical receptive field of one output in samples and seconds: the model's own
    (`model.receptive_field`). `model` may be a config.model, built here (its family's defaults
    filling any field it leaves out)."""
    if not isinstance(model, nn.Module):
        config = models.default_config(model['name'])
        config.update(model)
        model = models.build_model(config, num_classes=1)
    return model.receptive_field(sample_rate, window)


def layer_grad_norms(model: nn.Module, grads) -> list[float]:
    """Global norm of each layer's parameter gradient, input side first."""
    return [float(optax.tree.norm(layer)) for layer in models.per_layer_params(model, grads)]


def _model_inputs(batch: dict) -> dict:
    return {key: batch[key] for key in ('mask', 'features') if key in batch}


def _loss_fn(model: nn.Module, batch: dict):
    """(params, perturbations=None) -> mean (unweighted) cross-entropy on `batch` (the MSE for
    real-valued y)."""

    def loss(params, perturbations=None):
        variables = {'params': params}
        if perturbations is not None:
            variables['perturbations'] = perturbations
        logits = model.apply(variables, batch['x'], **_model_inputs(batch))
        if jnp.issubdtype(batch['y'].dtype, jnp.floating):  # Regression targets: the MSE.
            return ((logits[:, 0] - batch['y']) ** 2).mean()
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch['y']).mean()

    return loss


def _sensitivity_fn(model: nn.Module, batch: dict):
    """params -> mean over examples of |d logit_pred / d x_t| (norm over channels), by lag."""

    def sensitivity(params):
        def predicted_logit(x):
            logits = model.apply({'params': params}, x, **_model_inputs(batch))
            chosen = jax.lax.stop_gradient(logits.argmax(-1))
            return jnp.take_along_axis(logits, chosen[:, None], axis=1).sum()

        grads = jax.grad(predicted_logit)(batch['x'])  # (batch, time, channels)
        return jnp.sqrt((grads**2).sum(-1)).mean(0)[::-1]

    return sensitivity


def loss_gradients(model: nn.Module, params, batch: dict):
    """Gradient of the mean (unweighted) cross-entropy on `batch` with respect to the params."""
    return jax.jit(jax.grad(_loss_fn(model, batch)))(params)


def perturbation_shapes(model: nn.Module, params, batch: dict):
    """The shapes of the model's 'perturbations' (Module.perturb) on `batch`, or None if it
    does not mark its layers' inputs (`perturbs_layer_inputs`, e.g. the recurrent family)."""
    if not getattr(model, 'perturbs_layer_inputs', False):
        return None

    def perturbations(params):
        _, state = model.apply(
            {'params': params}, batch['x'], mutable=['perturbations'], **_model_inputs(batch)
        )
        return state.get('perturbations')

    return jax.eval_shape(perturbations, params) or None


def _by_lag(norms, mask):
    """(layers, batch, time) -> (layers, time) mean over examples, indexed by the lag before
    each example's last real step (end padding excluded: an example counts only at the lags it
    has)."""
    if mask is None:
        return norms[..., ::-1].mean(axis=1)
    time = norms.shape[-1]
    index = sequence_lengths(mask)[:, None] - 1 - jnp.arange(time)
    valid = index >= 0
    aligned = jnp.take_along_axis(norms, jnp.maximum(index, 0)[None], axis=-1) * valid
    return aligned.sum(axis=1) / jnp.maximum(valid.sum(axis=0), 1)


def _gradients_fn(model: nn.Module, batch: dict, shapes):
    """params -> (parameter gradients of the mean loss, (layers, time) curves of
    ||d loss_i / d x_t|| at each recurrent layer's input by lag, or None without perturbations).

    One backward pass gives both: the perturbations are zeros added to each layer's input.
    """
    loss = _loss_fn(model, batch)

    def gradients(params):
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        grads, hidden = jax.grad(loss, argnums=(0, 1))(params, zeros)
        if hidden is None:
            return grads, None
        # Each example's own loss: the mean's gradient times the batch size.
        count = batch['x'].shape[0]
        layers = [layer['input'] * count for layer in models.per_layer_params(model, hidden)]
        norms = jnp.stack([jnp.sqrt((g**2).sum(-1)) for g in layers])  # (layers, batch, time)
        # At the layers' time resolution (shorter than the input's after a front end).
        return grads, _by_lag(norms, model.layer_mask(batch.get('mask')))

    return gradients


def hidden_gradients(model: nn.Module, params, batch: dict) -> np.ndarray | None:
    """(depth, time): mean over examples of ||d loss / d x_t|| at each recurrent layer's input
    (layer 1 = the signal, or the front end's output, whose steps are then the lags), lag 0 =
    the last real step; None for a non-recurrent model.

    Layer l's input is layer l-1's hidden sequence h_t, so its curve is the gradient that has
    flowed back through layer l's recurrence and every layer above: vanishing gradients across
    time show as a fall with the lag, across layers as a fall towards layer 1.
    """
    shapes = perturbation_shapes(model, params, batch)
    if shapes is None:
        return None
    _, curves = jax.jit(_gradients_fn(model, batch, shapes))(params)
    return np.asarray(curves)


def log_slope(values: Sequence[float]) -> float | None:
    """Least-squares slope of log10(value) against position, over the positive finite values
    (a gradient that underflowed to 0 has no log); None with fewer than two."""
    y = np.asarray(values, np.float64)
    x = np.arange(len(y), dtype=np.float64)
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(x[keep], np.log10(y[keep]), 1)[0])


def lag_bins(time: int, points: int = HIDDEN_GRAD_POINTS) -> list[np.ndarray]:
    """At most `points` contiguous runs of lags covering 0..time-1, one lag each at the start
    and lengthening geometrically towards the far end."""
    edges = np.unique(np.round(np.geomspace(1, time, points)).astype(int) - 1)
    edges = np.unique(np.concatenate([[0], edges[edges > 0], [time]]))
    return [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def summarise_hidden_gradients(curves: np.ndarray) -> dict:
    """Slopes of log10 ||d loss / d x_t||, in decades per step back from the loss (negative =
    vanishing): per layer along the lag, and across layers (top to layer 1) of the mean over
    lags; plus the curves, averaged into log-spaced lag bins to keep files small."""
    curves = np.asarray(curves, np.float64)
    bins = lag_bins(curves.shape[1])
    time_slopes = [log_slope(curve) for curve in curves]
    return {
        'hidden_grad_lags': [float(b.mean()) for b in bins],
        'hidden_grad_norm': [[float(curve[b].mean()) for b in bins] for curve in curves],
        'hidden_grad_time_slope_per_layer': time_slopes,
        'hidden_grad_time_slope': time_slopes[0],
        'hidden_grad_layer_slope': log_slope(curves.mean(axis=1)[::-1]),
    }


def input_sensitivity(model: nn.Module, params, batch: dict) -> np.ndarray:
    """Mean over examples of |d logit_pred / d x_t| (norm over channels), indexed by lag.

    Lag 0 is the last sample of the window. Padding (mask False) contributes nothing.
    """
    return np.asarray(jax.jit(_sensitivity_fn(model, batch))(params))


def sensitivity_span(sensitivity: np.ndarray, fraction: float) -> int:
    """The smallest lag L such that lags 0..L hold `fraction` of the sensitivity mass."""
    total = float(np.sum(sensitivity))
    if total <= 0 or not math.isfinite(total):
        return 0
    cumulative = np.cumsum(sensitivity) / total
    return int(np.searchsorted(cumulative, fraction - 1e-12))


def summarise_sensitivity(sensitivity: np.ndarray, sample_rate: float) -> dict:
    spans = {f'span{int(f * 100)}': sensitivity_span(sensitivity, f) for f in (0.5, 0.9)}
    return {
        'input_sensitivity': [float(v) for v in sensitivity],
        **{f'sensitivity_{k}': v for k, v in spans.items()},
        **{f'sensitivity_{k}_s': v / sample_rate for k, v in spans.items()},
    }


class Probe:
    """The per-evaluation diagnostics of one run, compiled once.

    Runs on a fixed set of validation examples, so successive evaluations (and a resumed run)
    measure the same thing: per-layer gradient norms and input sensitivity, and for recurrent
    models the gradient across time (from the same backward pass as the gradient norms).
    """

    def __init__(self, model: nn.Module, batch: dict, sample_rate: float, params):
        """`params` (or their shapes) fix the shapes of the recurrent family's perturbations."""
        self.sample_rate = sample_rate
        gradients = _gradients_fn(model, batch, perturbation_shapes(model, params, batch))

        def measure(params):
            grads, curves = gradients(params)
            norms = jnp.stack([optax.tree.norm(g) for g in models.per_layer_params(model, grads)])
            return norms, curves

        self._gradients = jax.jit(measure)
        self._sensitivity = jax.jit(_sensitivity_fn(model, batch))

    def __call__(self, params) -> dict:
        norms, curves = jax.device_get(self._gradients(params))
        norms = [float(n) for n in norms]
        ratio = norms[0] / norms[-1] if norms[-1] > 0 else float('inf')
        sensitivity = np.asarray(self._sensitivity(params))
        return {
            'grad_norm_per_layer': norms,
            'grad_norm_ratio': ratio,
            **summarise_sensitivity(sensitivity, self.sample_rate),
            **(summarise_hidden_gradients(curves) if curves is not None else {}),
        }
