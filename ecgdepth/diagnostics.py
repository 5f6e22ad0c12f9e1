"""Measurements that separate the five explanations of why CNNs go deep and LSTMs stay shallow.

Each is a pure function of a model, its parameters and a batch, cheap enough to run on a fixed
handful of validation examples at evaluation steps:

- size and reach: FLOPs per example (XLA's cost analysis) and the theoretical receptive field;
- gradient flow across layers: the gradient norm of each layer's parameters (scanned layers are
  sliced along their stacked axis);
- input sensitivity: |d logit / d x_t| against the lag from the end of the window, i.e. the
  empirical receptive field (effective memory), with the lags holding 50% and 90% of the mass.
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
from ecgdepth.models import dilated_cnn


def flops_per_example(model: nn.Module, params, batch: dict) -> float | None:
    """Forward FLOPs per example from XLA's cost analysis of the inference program.

    XLA counts a loop body once whatever its trip count, so a scanned model is analysed in
    its unrolled form (same parameters; lowered only, never compiled). The recurrent family's
    loop over time is still counted once: its figure is per time step, not per window.
    """
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


def receptive_field(model_config, sample_rate: float, window: int) -> dict:
    """Theoretical receptive field of one output in samples and seconds.

    The dilated CNN's is exact (its readout pools over positions that each see this far back);
    one recurrent layer, and the MLP's first layer, already see the whole window.
    """
    if model_config.name == 'dilated_cnn':
        samples = dilated_cnn.receptive_field(
            model_config.kernel_size,
            model_config.depth,
            model_config.dilation,
            model_config.dilation_cycle,
        )
    else:
        samples = window
    return {'receptive_field': samples, 'receptive_field_s': samples / sample_rate}


def layer_grad_norms(model: nn.Module, grads) -> list[float]:
    """Global norm of each layer's parameter gradient, input side first."""
    return [float(optax.tree.norm(layer)) for layer in models.per_layer_params(model, grads)]


def _model_inputs(batch: dict) -> dict:
    return {key: batch[key] for key in ('mask', 'features') if key in batch}


def _loss_fn(model: nn.Module, batch: dict):
    """params -> mean (unweighted) cross-entropy on `batch` (the MSE for real-valued y)."""

    def loss(params):
        logits = model.apply({'params': params}, batch['x'], **_model_inputs(batch))
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
    measure the same thing: per-layer gradient norms and input sensitivity.
    """

    def __init__(self, model: nn.Module, batch: dict, sample_rate: float):
        self.sample_rate = sample_rate
        loss = _loss_fn(model, batch)

        def layer_norms(params):
            grads = jax.grad(loss)(params)
            return jnp.stack([optax.tree.norm(g) for g in models.per_layer_params(model, grads)])

        self._layer_norms = jax.jit(layer_norms)
        self._sensitivity = jax.jit(_sensitivity_fn(model, batch))

    def __call__(self, params) -> dict:
        norms = [float(n) for n in np.asarray(self._layer_norms(params))]
        ratio = norms[0] / norms[-1] if norms[-1] > 0 else float('inf')
        sensitivity = np.asarray(self._sensitivity(params))
        return {
            'grad_norm_per_layer': norms,
            'grad_norm_ratio': ratio,
            **summarise_sensitivity(sensitivity, self.sample_rate),
        }
