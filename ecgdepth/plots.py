"""Figures of a sweep's results (ecgdepth/results.py builds the Table they draw).

Each figure is written as PNG and PDF, atomically, for print: fonts of 9 pt and more, lines of
1.5 pt and more, the Okabe-Ito colour-blind-safe palette with a distinct marker per series, and
axes labelled with units. Only done trials are drawn (as in the table). Figures:

- metric vs the sweep's main axis (depth, else the first numeric varying override), one line
  per family (and other varying overrides): mean over seeds, ±1 std band, each seed a point;
  log2 axis for depth and width; validation and test panels;
- train-val gap (accuracy and loss) vs the same axis;
- metric vs parameter count (log axis): iso-parameter sweeps and any other;
- learning curves: train loss and the validation metric vs step from each trial's
  metrics.jsonl (ecgdepth/history.py), a row per family, a line per main-axis value;
- confusion matrices of each family's best trial by the validation selection metric;
- per-layer gradient norm vs layer and input sensitivity vs lag, only when summaries hold
  `grad_norm_per_layer` / `input_sensitivity` (lists; at the top level or under
  'diagnostics'); skipped silently otherwise;
- recurrent models' gradient across time: ||d loss / d x_t|| at each layer's input vs the lag,
  one panel per row, when summaries hold `hidden_grad_norm` and `hidden_grad_lags`.

Metric panels carry a grey dotted chance line (CHANCE_TEXT), families are named as
results.family_label, the panels of one figure share one x and one y scale (but the gap
figure's two, of different quantities, their own y), and the input-sensitivity curves mark
each model's receptive field.

matplotlib is used through its object API with the Agg canvas: no pyplot, no global backend.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
from collections.abc import Callable, Sequence

import matplotlib
import matplotlib.lines
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, ScalarFormatter

from ecgdepth import files, history, results

# Gradient-across-time figure: layers drawn per panel (first, last, evenly between) and panels.
MAX_LAYER_CURVES = 6
MAX_PANELS = 12
MARK_GID = 'receptive_field'  # The gid of receptive-field lines, for whoever inspects a figure.
# Okabe & Ito (2008), ordered for print contrast on white (yellow last).
PALETTE = ('#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442')
MARKERS = ('o', 's', '^', 'D', 'v', 'P', 'X', '*')
LINESTYLES = ('-', '--', '-.', ':')
LINE_WIDTH = 2.0
STYLE = {
    'font.size': 10,
    'axes.labelsize': 10,
    'axes.titlesize': 10,
    'legend.fontsize': 9,
    'xtick.labelsize': 9,
    'ytick.labelsize': 9,
    'lines.linewidth': LINE_WIDTH,
    'lines.markersize': 6,
    'axes.linewidth': 1.0,
    'pdf.fonttype': 42,  # TrueType in PDFs: editable text, accepted by publishers.
    'savefig.dpi': 200,
}
# fontTools logs every font subset of a PDF at INFO, which absl would print: keep it quiet.
logging.getLogger('fontTools').setLevel(logging.WARNING)
PANEL_SIZE = (3.4, 2.8)  # Inches: two panels fill a 7 in text width.
LOG2_KEYS = ('model.depth', 'model.width', 'iso_params')
METRIC_AXIS = {
    'accuracy': 'accuracy (fraction)',
    'macro_f1': 'macro-F1 (fraction)',
    'loss': 'loss (cross-entropy, nats; MSE for regression)',
    'mse': 'mean squared error',
    'mae': 'mean absolute error',
    'r2': 'R² (1 − MSE / target variance)',
    'baseline_mse': 'MSE of predicting the mean',
}
SPLIT_TITLES = {'train': 'train subset', 'val': 'validation', 'test': 'test'}
AXIS_LABELS = {
    'model.depth': 'depth (layers)',
    'model.width': 'width (units per layer)',
    'iso_params': 'parameter budget (count)',
    'model.kernel_size': 'kernel size (samples)',
    'model.dropout': 'dropout rate (fraction)',
    'optim.weight_decay': 'weight decay (coefficient)',
    'loss.label_smoothing': 'label smoothing (fraction)',
    'data.train_fraction': 'training data used (fraction)',
    'optim.learning_rate': 'peak learning rate',
}


@dataclasses.dataclass
class FigureFile:
    """A written figure: where, and the caption the report shows under it."""

    name: str
    caption: str
    png: str
    pdf: str
    figure: Figure | None = dataclasses.field(default=None, repr=False, compare=False)  # Tests.


@dataclasses.dataclass
class Series:
    """One line: x positions and, per position, the values of each done seed."""

    label: str
    x: list[float]
    values: list[list[float]]


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


def new_figure(ncols: int = 1, nrows: int = 1, *, legend_rows: int = 0) -> Figure:
    width, height = PANEL_SIZE
    fig = Figure(figsize=(width * ncols, height * nrows + 0.3 * legend_rows), layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_dir: str, name: str, caption: str) -> FigureFile:
    """PNG (for the Markdown report) and PDF (for print), without timestamps in the PDF."""
    paths = {}
    for ext, kwargs in (('png', {}), ('pdf', {'metadata': {'CreationDate': None}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, **kwargs)
        paths[ext] = os.path.join(out_dir, f'{name}.{ext}')
        files.write_bytes(paths[ext], buffer.getvalue())
    return FigureFile(name, caption, paths['png'], paths['pdf'], fig)


# --------------------------------------------------------------------------------------------
# Drawing.
# --------------------------------------------------------------------------------------------


def style(i: int) -> dict:
    return {
        'color': PALETTE[i % len(PALETTE)],
        'marker': MARKERS[i % len(MARKERS)],
        'linestyle': LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)],
    }


def draw_series(ax, series: Sequence[Series]) -> None:
    """Mean line with markers, ±1 std band (where n > 1) and each seed as a faint point."""
    for i, s in enumerate(series):
        look = style(i)
        x = np.asarray(s.x, np.float64)
        mean = np.array([np.mean(v) for v in s.values])
        std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in s.values])
        ax.plot(x, mean, label=s.label or None, linewidth=LINE_WIDTH, zorder=3, **look)
        if np.any(std > 0):
            ax.fill_between(
                x, mean - std, mean + std, color=look['color'], alpha=0.18, linewidth=0, zorder=1
            )
        xs = [xi for xi, v in zip(s.x, s.values, strict=True) for _ in v]
        ys = [value for v in s.values for value in v]
        ax.scatter(
            xs,
            ys,
            s=16,
            color=look['color'],
            marker=look['marker'],
            alpha=0.45,
            linewidths=0,
            zorder=2,
        )


def set_log2(ax, xs: Sequence[float]) -> None:
    """log2 axis ticked at the values themselves (1, 2, 4, ... rather than 2^k)."""
    ax.set_xscale('log', base=2)
    ticks = sorted(set(xs))
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())


def legend_layout(labels: Sequence[str], ncols_panels: int) -> tuple[int, int]:
    """(columns, rows) of a legend under the panels that fits their width (9 pt text is about
    13 characters per inch, plus the line sample)."""
    labels = [label for label in labels if label]
    if not labels:
        return 0, 0
    chars = PANEL_SIZE[0] * ncols_panels * 13
    ncols = max(1, min(len(labels), 4, int(chars // (max(map(len, labels)) + 6))))
    return ncols, math.ceil(len(labels) / ncols)


def add_legend(fig: Figure, ax, ncols: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc='outside lower center', ncols=ncols, frameon=False)


# --------------------------------------------------------------------------------------------
# From a results.Table to series.
# --------------------------------------------------------------------------------------------


def _numeric(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def main_axis(table: results.Table) -> str | None:
    """Depth if it varies, else the first numeric grouping key that varies: the x of the
    metric and gap figures (None: no such axis, those figures are skipped)."""
    keys = [k for k in table.group_keys if k != 'model.name']
    for key in ['model.depth', *(k for k in keys if k != 'model.depth')]:
        if key not in keys:
            continue
        values = [_numeric(row.group.get(key)) for row in table.rows]
        if all(v is not None for v in values) and len(set(values)) > 1:
            return key
    return None


def axis_label(key: str) -> str:
    return AXIS_LABELS.get(key, results.key_label(key))


def series_groups(table: results.Table, x_key: str | None) -> list[tuple[str, list]]:
    """Rows split into lines: one per combination of the grouping keys other than x_key."""
    groups: dict[str, list] = {}
    for row in table.rows:
        groups.setdefault(row.label(skip=[x_key] if x_key else []), []).append(row)
    return list(groups.items())


def build_series(
    groups: Sequence[tuple[str, list]],
    x_of: Callable[[results.Row], float | None],
    values_of: Callable[[results.Row], list[float]],
) -> list[Series]:
    """Lines sorted by x; rows without an x or without done values are left out."""
    series = []
    for label, rows in groups:
        points = []
        for row in rows:
            x, values = x_of(row), values_of(row)
            if x is not None and values:
                points.append((x, values))
        if points:
            points.sort(key=lambda p: p[0])
            series.append(Series(label, [p[0] for p in points], [p[1] for p in points]))
    return series


def summary_column(path: Sequence[str]) -> results.Column:
    return results.Column('.'.join(path), '.'.join(path), (tuple(path),))


def _row_x(x_key: str):
    return lambda row: _numeric(row.group.get(x_key))


def _row_params(row: results.Row) -> float | None:
    values = row.values(summary_column(['params']))
    return float(np.mean(values)) if values else None


# --------------------------------------------------------------------------------------------
# Chance levels.
# --------------------------------------------------------------------------------------------

# What the grey dotted 'chance' line of a metric is, for captions.
CHANCE_TEXT = {
    'accuracy': 'the majority-class rate of the split, what always predicting its commonest '
    'class scores (1/K where the class counts are not recorded)',
    'macro_f1': '1/K, K the classes present: about what guessing at the class frequencies '
    "scores (each class's precision and recall are then its frequency); always predicting "
    'one class scores less',
    'loss': 'the entropy of the class frequencies, the loss of predicting them',
    'r2': '0, the R² of predicting the mean',
}


def class_counts(summary: dict | None, split: str) -> np.ndarray | None:
    """Examples per true class in a split: the row sums of its recorded confusion matrix."""
    node = (summary or {}).get(split)
    try:
        matrix = np.asarray(node.get('confusion') if isinstance(node, dict) else None, np.float64)
    except (TypeError, ValueError):  # Ragged.
        return None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or not matrix.sum() > 0:
        return None
    return matrix.sum(axis=1)


def chance_level(summary: dict | None, split: str, metric: str) -> float | None:
    """The chance value of `metric` on a split (CHANCE_TEXT); None where none is defined."""
    if metric == 'r2':
        return 0.0
    counts = class_counts(summary, split)
    if counts is not None:
        p = counts[counts > 0] / counts.sum()
        levels = {'accuracy': p.max(), 'macro_f1': 1 / len(p), 'loss': -(p * np.log(p)).sum()}
        return float(levels[metric]) if metric in levels else None
    k = (summary or {}).get('num_classes')
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        return None
    return {'accuracy': 1 / k, 'macro_f1': 1 / k, 'loss': math.log(k)}.get(metric)


def table_chance(table: results.Table, split: str, metric: str) -> float | None:
    """The mean chance level over the done trials (which normally share their splits)."""
    levels = [chance_level(t.summary, split, metric) for row in table.rows for t in row.done]
    levels = [v for v in levels if v is not None]
    return float(np.mean(levels)) if levels else None


def draw_chance(ax, level: float | None) -> None:
    if level is not None:
        ax.axhline(level, color='0.5', linestyle=':', linewidth=1.5, label='chance', zorder=0)


def chance_caption(metric: str) -> str:
    return f' Grey dotted line: chance, {CHANCE_TEXT[metric]}.' if metric in CHANCE_TEXT else ''


# --------------------------------------------------------------------------------------------
# Figures.
# --------------------------------------------------------------------------------------------


def _panels(
    out_dir: str,
    name: str,
    caption: str,
    panels: Sequence[tuple[str, str, list[Series], float | None]],
    x_label: str,
    *,
    log2: bool = False,
    log10: bool = False,
    zero_line: bool = False,
    sharey: bool = False,
) -> FigureFile | None:
    """One row of panels (title, y label, series, chance level or None); None if no panel has
    data. The x scale is chosen once for all panels, so they read alike."""
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    longest = max((p[2] for p in panels), key=len)
    chance = ['chance'] if any(p[3] is not None for p in panels) else []
    ncols, nrows = legend_layout([s.label for s in longest] + chance, len(panels))
    fig = new_figure(len(panels), legend_rows=nrows)
    axes = fig.subplots(1, len(panels), sharey=sharey, squeeze=False)[0]
    xs = [x for p in panels for s in p[2] for x in s.x]
    log2, log10 = (flag and all(x > 0 for x in xs) for flag in (log2, log10))
    for ax, (title, y_label, series, level) in zip(axes, panels, strict=True):
        draw_series(ax, series)
        if log2:
            set_log2(ax, xs)
        elif log10:
            ax.set_xscale('log')
        if zero_line:
            ax.axhline(0.0, color='0.4', linewidth=1.5, linestyle=':', zorder=0)
        draw_chance(ax, level)
        ax.set_title(title)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
    add_legend(fig, axes[[len(p[2]) for p in panels].index(len(longest))], ncols)
    return save(fig, out_dir, name, caption)


def metric_vs_axis(table, out_dir, metric: str, x_key: str) -> FigureFile | None:
    groups = series_groups(table, x_key)
    panels = []
    for split in ('val', 'test'):
        column = summary_column([split, metric])
        series = build_series(groups, _row_x(x_key), lambda row, c=column: row.values(c))
        level = table_chance(table, split, metric)
        panels.append((SPLIT_TITLES[split], METRIC_AXIS[metric], series, level))
    short = results.key_label(x_key).replace(' ', '_')
    caption = (
        f'{results.METRIC_LABELS[metric]} vs {results.key_label(x_key)}: mean over seeds '
        '(line), ±1 std (band) and each seed (points); validation (left) and test (right) at '
        f'the best validation step. Done trials only.{chance_caption(metric)}'
    )
    return _panels(
        out_dir,
        f'{metric}_vs_{short}',
        caption,
        panels,
        axis_label(x_key),
        log2=x_key in LOG2_KEYS,
        sharey=True,
    )


def gap_vs_axis(table, out_dir, x_key: str) -> FigureFile | None:
    groups = series_groups(table, x_key)
    panels = []
    for part, title, label in (
        ('accuracy', 'accuracy gap', 'train − val accuracy (fraction)'),
        ('loss', 'loss gap', 'val − train loss (nats)'),
    ):
        column = summary_column(['gap', part])
        series = build_series(groups, _row_x(x_key), lambda row, c=column: row.values(c))
        panels.append((title, label, series, None))
    short = results.key_label(x_key).replace(' ', '_')
    caption = (
        f'Generalisation gap vs {results.key_label(x_key)}: train − validation accuracy (left) '
        'and validation − train loss (right) at the best validation step (train = a subset of '
        'the training split); above the dotted zero line the model fits train better. '
        'Mean ± std over seeds, each seed a point.'
    )
    return _panels(
        out_dir,
        f'gap_vs_{short}',
        caption,
        panels,
        axis_label(x_key),
        log2=x_key in LOG2_KEYS,
        zero_line=True,
    )


def metric_vs_params(table, out_dir, metric: str, x_key: str | None) -> FigureFile | None:
    groups = series_groups(table, x_key)
    panels = []
    for split in ('val', 'test'):
        column = summary_column([split, metric])
        series = build_series(groups, _row_params, lambda row, c=column: row.values(c))
        level = table_chance(table, split, metric)
        panels.append((SPLIT_TITLES[split], METRIC_AXIS[metric], series, level))
    along = f' (points along {results.key_label(x_key)})' if x_key else ''
    caption = (
        f'{results.METRIC_LABELS[metric]} vs parameter count{along}: mean ± std over seeds, '
        f'each seed a point; validation (left) and test (right).{chance_caption(metric)}'
    )
    return _panels(
        out_dir,
        f'{metric}_vs_params',
        caption,
        panels,
        'parameters (count, log scale)',
        log10=True,
        sharey=True,
    )


def diagnostic_lists(summary: dict | None, key: str) -> list[float] | None:
    """A list diagnostic (top level or under 'diagnostics') as floats (null -> NaN)."""
    for node in (summary or {}, (summary or {}).get('diagnostics') or {}):
        value = node.get(key) if isinstance(node, dict) else None
        if isinstance(value, list) and value:
            out = [_numeric(v) for v in value]
            return [math.nan if v is None else v for v in out]
    return None


def _mean_curve(row: results.Row, key: str) -> list[float] | None:
    """Elementwise mean over the row's done seeds (of the most common length)."""
    curves = [c for c in (diagnostic_lists(t.summary, key) for t in row.done) if c]
    if not curves:
        return None
    lengths = [len(c) for c in curves]
    length = max(set(lengths), key=lengths.count)
    stacked = np.array([c for c in curves if len(c) == length], np.float64)
    with np.errstate(all='ignore'):
        return np.nanmean(stacked, axis=0).tolist()


def _curve_panels(table, key: str, mark_of=None) -> list[tuple[str, list]]:
    """(title, [(tag, mean curve, mark or None)]) per line group (e.g. family), a curve per row
    along the main axis; mark_of(row) is an x to mark on the row's curve, or None."""
    x_key = main_axis(table)
    panels = []
    for label, rows in series_groups(table, x_key):
        curves = []
        for row in rows:
            curve = _mean_curve(row, key)
            if curve is not None:
                tag = row.label(skip=[k for k in table.group_keys if k != x_key]) if x_key else ''
                curves.append((tag or label or 'all', curve, mark_of(row) if mark_of else None))
        if curves:
            panels.append((label, curves))
    return panels


def panel_grid(count: int) -> tuple[Figure, np.ndarray]:
    """Up to three panels a row sharing one y axis (so one scale), spare cells hidden."""
    ncols = min(3, count)
    nrows = math.ceil(count / ncols)
    fig = new_figure(ncols, nrows)
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def wide_range(values) -> bool:
    """Whether positive values span more than 20x, so a log axis reads better."""
    values = np.array([v for v in values if np.isfinite(v)], np.float64)
    return bool(len(values) and values.min() > 0 and values.max() / values.min() > 20)


def curves_figure(
    table, out_dir, key: str, name: str, x_label: str, y_label: str, caption: str, *, start: int,
    mark_of=None,
) -> FigureFile | None:  # fmt: skip
    """One panel per line group (e.g. family), one curve per row along the main axis, one y
    scale for all panels; a dashed vertical line in a curve's colour at its mark."""
    panels = _curve_panels(table, key, mark_of)
    if not panels:
        return None
    fig, axes = panel_grid(len(panels))
    log = wide_range(v for _, curves in panels for _, curve, _ in curves for v in curve)
    for ax, (title, curves) in zip(axes, panels, strict=False):
        for i, (tag, curve, mark) in enumerate(curves):
            x, look = np.arange(start, start + len(curve)), style(i)
            ax.plot(
                x, curve, label=tag, linewidth=LINE_WIDTH, markevery=max(1, len(curve) // 12),
                **look,
            )  # fmt: skip
            if mark is not None and start <= mark <= x[-1]:
                ax.axvline(mark, color=look['color'], linestyle='--', linewidth=1.5, gid=MARK_GID)
        if log:
            ax.set_yscale('log')
        ax.set_title(title or None)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(frameon=False)
    return save(fig, out_dir, name, caption)


def grad_norm_per_layer(table, out_dir) -> FigureFile | None:
    return curves_figure(
        table,
        out_dir,
        'grad_norm_per_layer',
        'grad_norm_per_layer',
        'layer (1 = input side)',
        'gradient norm (L2)',
        'Gradient norm per layer (layer 1 nearest the input), one curve per row, mean over '
        'done seeds: vanishing or exploding gradients show as a slope across layers.',
        start=1,
    )


def last_lag_seen(row: results.Row) -> float | None:
    """The largest lag inside the row's receptive field (RF - 1 samples; mean over seeds)."""
    column = results.Column('rf', 'rf', (('receptive_field',), ('diagnostics', 'receptive_field')))
    values = row.values(column)
    return float(np.mean(values)) - 1 if values else None


def input_sensitivity(table, out_dir) -> FigureFile | None:
    return curves_figure(
        table,
        out_dir,
        'input_sensitivity',
        'input_sensitivity',
        'lag (samples before the output)',
        'input sensitivity (a.u.)',
        'Input sensitivity vs lag, one curve per row, mean over done seeds: how far back in '
        "the signal the prediction looks. Dashed vertical line in a curve's colour: its "
        'receptive field (the last lag the output can depend on, RF − 1 samples; not drawn '
        'where it lies beyond the window).',
        start=0,
        mark_of=last_lag_seen,
    )


def _diagnostic_value(summary: dict | None, key: str):
    for node in (summary or {}, (summary or {}).get('diagnostics') or {}):
        if isinstance(node, dict) and key in node:
            return node[key]
    return None


def _mean_layer_curves(row: results.Row) -> tuple[np.ndarray, np.ndarray] | None:
    """(lags, (layers, lags) curves): the mean over the row's done seeds of the stored
    d loss / d x_t curves (those of the most common shape), or None if none has them."""
    found = []
    for t in row.done:
        lags = _diagnostic_value(t.summary, 'hidden_grad_lags')
        curves = _diagnostic_value(t.summary, 'hidden_grad_norm')
        try:
            lags, curves = np.asarray(lags, np.float64), np.asarray(curves, np.float64)
        except (TypeError, ValueError):  # Absent (None) or ragged.
            continue
        if curves.ndim == 2 and lags.ndim == 1 and curves.shape[1] == len(lags) > 0:
            found.append((lags, curves))
    if not found:
        return None
    shapes = [c.shape for _, c in found]
    shape = max(set(shapes), key=shapes.count)
    found = [(lags, c) for lags, c in found if c.shape == shape]
    with np.errstate(all='ignore'):
        return found[0][0], np.nanmean(np.stack([c for _, c in found]), axis=0)


def pick_layers(depth: int, most: int = MAX_LAYER_CURVES) -> list[int]:
    """Layer indices to draw: all of a shallow stack, else first, last and evenly between."""
    if depth <= most:
        return list(range(depth))
    return sorted({round(i * (depth - 1) / (most - 1)) for i in range(most)})


def hidden_gradients(table, out_dir) -> FigureFile | None:
    """||d loss / d x_t|| at each recurrent layer's input vs lag: one panel per row."""
    panels = []
    for row in table.rows:
        found = _mean_layer_curves(row)
        if found is not None:
            panels.append((row.label(), *found))
    if not panels:
        return None
    shown = panels[:MAX_PANELS]
    fig, axes = panel_grid(len(shown))
    for ax, (title, lags, curves) in zip(axes, shown, strict=False):
        for i, layer in enumerate(pick_layers(len(curves))):
            keep = np.isfinite(curves[layer]) & (curves[layer] > 0)
            ax.plot(
                lags[keep],
                curves[layer][keep],
                label=f'layer {layer + 1}',
                linewidth=LINE_WIDTH,
                markevery=max(1, int(keep.sum()) // 10),
                **style(i),
            )
        ax.set_yscale('log')
        ax.set_title(title or None)
        ax.set_xlabel('lag (steps before the readout)')
        ax.set_ylabel('gradient norm (L2)')
        ax.legend(frameon=False)
    more = (
        f' The first {MAX_PANELS} of {len(panels)} rows are drawn.'
        if len(panels) > len(shown)
        else ''
    )
    caption = (
        "Gradient across time in recurrent models: ||d loss / d x_t|| at each layer's input "
        '(layer 1 = the signal; layer l = the hidden sequence of layer l-1, after the gradient '
        'has crossed layer l and those above) vs the lag before the readout, mean over examples '
        'and done seeds, log scale: a straight fall is exponential vanishing, its slope the time '
        f'slope of the table.{more}'
    )
    return save(fig, out_dir, 'hidden_grad_vs_lag', caption)


# --------------------------------------------------------------------------------------------
# Learning curves and confusion matrices: from each trial's metrics.jsonl and summary.
# --------------------------------------------------------------------------------------------


def _learning_panels(table: results.Table) -> list[tuple[str, list[tuple[str, dict]]]]:
    """(group label, [(tag, {'train': Band, 'val': Band})]) per line group (e.g. family), one
    line per row along the main axis (sorted by it)."""
    x_key, metric = main_axis(table), table.metrics[0]
    panels = []
    for label, rows in series_groups(table, x_key):
        if x_key is not None:
            rows = sorted(rows, key=lambda r: _numeric(r.group.get(x_key)))
        lines = []
        for row in rows:
            bands = history.row_bands(table.workdir, row, metric)
            if any(b is not None for b in bands.values()):
                tag = row.label(skip=[k for k in table.group_keys if k != x_key]) if x_key else ''
                lines.append((tag or label or 'all', bands))
        if lines:
            panels.append((label, lines))
    return panels


def draw_band(ax, band: history.Band | None, look: dict, linestyle: str, label: str) -> None:
    """Mean over seeds as a line, min-max over seeds as a band."""
    if band is None:
        return
    every = max(1, len(band.steps) // 8)
    ax.plot(band.steps, band.mean, label=label, markevery=every, **{**look, 'linestyle': linestyle})
    if np.any(band.high > band.low):
        ax.fill_between(band.steps, band.low, band.high, color=look['color'], alpha=0.18, lw=0)


def _learning_legend(fig: Figure, tags: Sequence[str], chance: bool) -> None:
    handles = [matplotlib.lines.Line2D([], [], **style(i)) for i in range(len(tags))]
    labels = list(tags)
    if chance:
        handles.append(matplotlib.lines.Line2D([], [], color='0.5', linestyle=':'))
        labels.append('chance')
    ncols, _ = legend_layout(labels, 2)
    fig.legend(handles, labels, loc='outside lower center', ncols=ncols, frameon=False)


def learning_curves(table: results.Table, out_dir: str) -> FigureFile | None:
    """Train loss (left, dashed) and the validation metric (right, solid) against step: a row
    of panels per family, a line per depth (the main axis) in one colour across panels."""
    panels = _learning_panels(table)[:MAX_PANELS]
    if not panels:
        return None
    metric = table.metrics[0]
    tags = list(dict.fromkeys(tag for _, lines in panels for tag, _ in lines))
    level = table_chance(table, 'val', metric)
    legend_rows = legend_layout([*tags, 'chance'], 2)[1]
    fig = new_figure(2, len(panels), legend_rows=legend_rows)
    axes = fig.subplots(len(panels), 2, sharex=True, sharey='col', squeeze=False)
    losses = []
    for (title, lines), (loss_ax, metric_ax) in zip(panels, axes, strict=True):
        for tag, bands in lines:
            look = style(tags.index(tag))
            draw_band(loss_ax, bands['train'], look, '--', tag)
            draw_band(metric_ax, bands['val'], look, '-', tag)
            losses += list(bands['train'].mean) if bands['train'] is not None else []
        draw_chance(metric_ax, level)
        prefix = f'{title}: ' if title else ''
        loss_ax.set_title(f'{prefix}train loss')
        metric_ax.set_title(f'{prefix}validation {results.METRIC_LABELS[metric]}')
        loss_ax.set_ylabel('loss (nats; MSE for regression)')
        metric_ax.set_ylabel(METRIC_AXIS.get(metric, metric))
    for ax in axes[-1]:
        ax.set_xlabel('training step')
    if wide_range(losses):
        axes[0, 0].set_yscale('log')
    _learning_legend(fig, tags, level is not None)
    caption = (
        f'Learning curves: training loss (left, dashed; the mean of each logging interval) and '
        f'validation {results.METRIC_LABELS[metric]} (right, solid; at each evaluation) vs '
        f'training step, a row per family and a line per {axis_name(table)}: mean over done '
        f'seeds (line) and their min-max (band).{chance_caption(metric)}'
    )
    return save(fig, out_dir, 'learning_curves', caption)


def axis_name(table: results.Table) -> str:
    x_key = main_axis(table)
    return results.key_label(x_key) if x_key else 'row'


def confusion_of(summary: dict | None) -> tuple[str, np.ndarray] | tuple[None, None]:
    """(split, counts) of the test confusion matrix, else the validation one."""
    for split in ('test', 'val'):
        counts = class_counts(summary, split)
        if counts is not None:
            return split, np.asarray(summary[split]['confusion'], np.float64)
    return None, None


def family_best(table: results.Table) -> list[tuple[results.Row, results.TrialResult]]:
    """(row, trial) per family: its done trial with the best validation selection metric
    (results.best_by_validation: test never chooses), if that trial has a confusion matrix."""
    by_family: dict[str, list[results.Row]] = {}
    for row in table.rows:
        by_family.setdefault(results.format_value(row.group.get('model.name')), []).append(row)
    chosen = []
    for rows in by_family.values():
        trials = [t for row in rows for t in row.done]
        best = results.best_by_validation(trials, table.select_metric or table.metrics[0])
        if best is not None and confusion_of(best.summary)[0] is not None:
            chosen.append((next(r for r in rows if best in r.trials), best))
    return chosen


def class_labels(summary: dict, k: int) -> list[str]:
    names = summary.get('class_names')
    if isinstance(names, list) and len(names) == k:
        return [str(n) for n in names]
    return [str(i) for i in range(k)]


def draw_confusion(ax, counts: np.ndarray, names: Sequence[str]):
    """Row-normalised colours (fraction of each true class), fraction and count in each cell."""
    support = counts.sum(axis=1, keepdims=True)
    with np.errstate(all='ignore'):
        rates = np.where(support > 0, counts / support, np.nan)
    image = ax.imshow(rates, cmap='Blues', vmin=0.0, vmax=1.0)
    for i, j in np.ndindex(counts.shape):
        rate = rates[i, j]
        text = f'{rate:.2f}\n{int(counts[i, j])}' if np.isfinite(rate) else '–'
        color = 'white' if np.isfinite(rate) and rate > 0.6 else 'black'
        ax.text(j, i, text, ha='center', va='center', fontsize=9, color=color)
    ax.set_xticks(range(len(names)), names, rotation=45, ha='right')
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    return image


def confusion_matrices(table: results.Table, out_dir: str) -> FigureFile | None:
    """The confusion matrix of each family's best trial (family_best), a panel each."""
    chosen = family_best(table)[:MAX_PANELS]
    if not chosen:
        return None
    metric = table.select_metric or table.metrics[0]
    k = max(len(confusion_of(t.summary)[1]) for _, t in chosen)
    side = max(PANEL_SIZE[0], 0.55 * k + 1.6)
    ncols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig = Figure(figsize=(side * ncols + 0.8, (side + 0.3) * nrows), layout='constrained')
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (row, trial) in zip(axes, chosen, strict=False):
        split, counts = confusion_of(trial.summary)
        image = draw_confusion(ax, counts, class_labels(trial.summary, len(counts)))
        seed = f', seed {trial.seed}' if trial.seed is not None else ''
        value = results.lookup(trial.summary, ('val', metric))
        ax.set_title(
            f'{row.label() or "all"}{seed}\n{SPLIT_TITLES[split]} split; val '
            f'{results.METRIC_LABELS.get(metric, metric)} {value:.3f}'
        )
    for ax in axes[len(chosen) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=list(axes[: len(chosen)]), shrink=0.8, label='fraction of true class')
    caption = (
        "Confusion matrices of each family's best trial, the done trial with the best "
        f'validation {results.METRIC_LABELS.get(metric, metric)} (the test split never '
        'chooses), on the test split (validation where no test was recorded; the panel says '
        'which): rows are the true classes, each cell the fraction of its row (colour, upper '
        'number) and the count (lower number).'
    )
    return save(fig, out_dir, 'confusion_matrices', caption)


def make_figures(table: results.Table, out_dir: str) -> list[FigureFile]:
    """Every figure the table's data support, in report order; the rest are skipped."""
    metric = table.metrics[0]
    x_key = main_axis(table)
    figures = []
    with matplotlib.rc_context(STYLE):
        if x_key is not None:
            figures.append(metric_vs_axis(table, out_dir, metric, x_key))
            figures.append(gap_vs_axis(table, out_dir, x_key))
        figures.append(metric_vs_params(table, out_dir, metric, x_key))
        figures.append(learning_curves(table, out_dir))
        figures.append(confusion_matrices(table, out_dir))
        figures.append(grad_norm_per_layer(table, out_dir))
        figures.append(input_sensitivity(table, out_dir))
        figures.append(hidden_gradients(table, out_dir))
    return [f for f in figures if f is not None]
