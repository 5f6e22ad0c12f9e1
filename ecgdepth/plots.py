"""Figures of a sweep's results (ecgdepth/results.py builds the Table they draw).

Each figure is written as PNG and PDF, atomically, for print: fonts of 9 pt and more, lines of
1.5 pt and more, the Okabe-Ito colour-blind-safe palette with a distinct marker per series, and
axes labelled with units. Only done trials are drawn (as in the table). Figures:

- metric vs the sweep's main axis (depth, else the first numeric varying override), one line
  per family (and other varying overrides): mean over seeds, ±1 std band, each seed a point;
  log2 axis for depth and width; validation and test panels;
- train-val gap (accuracy and loss) vs the same axis;
- metric vs parameter count (log axis): iso-parameter sweeps and any other;
- per-layer gradient norm vs layer and input sensitivity vs lag, only when summaries hold
  `grad_norm_per_layer` / `input_sensitivity` (lists; at the top level or under
  'diagnostics'); skipped silently otherwise;
- recurrent models' gradient across time: ||d loss / d x_t|| at each layer's input vs the lag,
  one panel per row, when summaries hold `hidden_grad_norm` and `hidden_grad_lags`.

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
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, ScalarFormatter

from ecgdepth import files, results

# Gradient-across-time figure: layers drawn per panel (first, last, evenly between) and panels.
MAX_LAYER_CURVES = 6
MAX_PANELS = 12
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
    return FigureFile(name, caption, paths['png'], paths['pdf'])


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
# Figures.
# --------------------------------------------------------------------------------------------


def _panels(
    out_dir: str,
    name: str,
    caption: str,
    panels: Sequence[tuple[str, str, list[Series]]],
    x_label: str,
    *,
    log2: bool = False,
    log10: bool = False,
    zero_line: bool = False,
    sharey: bool = False,
) -> FigureFile | None:
    """One row of panels (title, y label, series); None if no panel has data."""
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    longest = max((p[2] for p in panels), key=len)
    ncols, nrows = legend_layout([s.label for s in longest], len(panels))
    fig = new_figure(len(panels), legend_rows=nrows)
    axes = fig.subplots(1, len(panels), sharey=sharey, squeeze=False)[0]
    for ax, (title, y_label, series) in zip(axes, panels, strict=True):
        draw_series(ax, series)
        xs = [x for s in series for x in s.x]
        if log2 and all(x > 0 for x in xs):
            set_log2(ax, xs)
        elif log10 and all(x > 0 for x in xs):
            ax.set_xscale('log')
        if zero_line:
            ax.axhline(0.0, color='0.4', linewidth=1.5, linestyle=':', zorder=0)
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
        panels.append((SPLIT_TITLES[split], METRIC_AXIS[metric], series))
    short = results.key_label(x_key).replace(' ', '_')
    caption = (
        f'{results.METRIC_LABELS[metric]} vs {results.key_label(x_key)}: mean over seeds '
        '(line), ±1 std (band) and each seed (points); validation (left) and test (right) at '
        'the best validation step. Done trials only.'
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
        panels.append((title, label, series))
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
        panels.append((SPLIT_TITLES[split], METRIC_AXIS[metric], series))
    along = f' (points along {results.key_label(x_key)})' if x_key else ''
    caption = (
        f'{results.METRIC_LABELS[metric]} vs parameter count{along}: mean ± std over seeds, '
        'each seed a point; validation (left) and test (right).'
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


def curves_figure(
    table, out_dir, key: str, name: str, x_label: str, y_label: str, caption: str, *, start: int
) -> FigureFile | None:
    """One panel per line group (e.g. family), one curve per row along the main axis."""
    x_key = main_axis(table)
    panels = []
    for label, rows in series_groups(table, x_key):
        curves = []
        for row in rows:
            curve = _mean_curve(row, key)
            if curve is not None:
                tag = row.label(skip=[k for k in table.group_keys if k != x_key]) if x_key else ''
                curves.append((tag or label or 'all', curve))
        if curves:
            panels.append((label, curves))
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(ncols, nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (title, curves) in zip(axes, panels, strict=False):
        values = np.array([v for _, c in curves for v in c if np.isfinite(v)])
        for i, (tag, curve) in enumerate(curves):
            x = np.arange(start, start + len(curve))
            look = style(i)
            ax.plot(
                x,
                curve,
                label=tag,
                linewidth=LINE_WIDTH,
                markevery=max(1, len(curve) // 12),
                **look,
            )
        if len(values) and values.min() > 0 and values.max() / values.min() > 20:
            ax.set_yscale('log')
        ax.set_title(title or None)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(frameon=False)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
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


def input_sensitivity(table, out_dir) -> FigureFile | None:
    return curves_figure(
        table,
        out_dir,
        'input_sensitivity',
        'input_sensitivity',
        'lag (samples before the output)',
        'input sensitivity (a.u.)',
        'Input sensitivity vs lag, one curve per row, mean over done seeds: how far back in '
        'the signal the prediction looks (compare with the receptive field).',
        start=0,
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
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig = new_figure(ncols, nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
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
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
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
        figures.append(grad_norm_per_layer(table, out_dir))
        figures.append(input_sensitivity(table, out_dir))
        figures.append(hidden_gradients(table, out_dir))
    return [f for f in figures if f is not None]
