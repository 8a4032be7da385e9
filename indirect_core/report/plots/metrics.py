"""Charts of measured numbers: the paper's metrics per notion and model (bars, a grid of panels, a sweep over a
setting), composed retrieval's recall per method, and the share of attribution inside the object mask."""
from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..._util.errors import ConfigError
from ...core.metrics import METRICS, SHORT_NAMES
from ...core.models import MODELS, display_name
from .style import (COLUMN_WIDTH, COMPOSED_HEX, DOUBLE_COLUMN_WIDTH, MODEL_HEX, caption, finish,
                    mark_caveat, model_colours, set_theme)


def plot_metric_bars(summary: pd.DataFrame, metric: str = "mean_average_precision_at_r",
                     caveat: str | None = None, ax: Axes | None = None,
                     figsize: tuple[float, float] | None = None) -> Figure:
    """Grouped bars of one metric: notions on x, one bar per model (paper order), error bars = std."""
    set_theme()
    notions, models = _check_summary(summary, [metric])
    if ax is None:
        width = COLUMN_WIDTH if len(notions) * len(models) <= 18 else DOUBLE_COLUMN_WIDTH
        fig = plt.figure(figsize=figsize or (width, 2.3), layout="constrained")
        ax = fig.add_subplot()
        own_figure = True
    else:
        fig, own_figure = ax.figure, False
    _draw_metric_bars(ax, summary, metric, notions, models)
    ax.set_ylabel(SHORT_NAMES[metric])
    handles = _model_handles(models)
    if own_figure:
        caption(fig, f"{SHORT_NAMES[metric]} per notion and model (mean ± std over seeds)")
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
                   handlelength=1.0, columnspacing=1.0)
    else:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), handlelength=1.0)
    if caveat:
        mark_caveat(fig, caveat)
    return fig


def plot_metrics_grid(summary: pd.DataFrame, metrics: Sequence[str] = METRICS, caveat: str | None = None,
                      figsize: tuple[float, float] | None = None) -> Figure:
    """One small bar panel per metric (shared y from 0 to 1) and one shared model legend."""
    set_theme()
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics:
        raise ConfigError(f"metrics is empty: choose one or more of {list(METRICS)}")
    notions, models = _check_summary(summary, metrics)
    ncols = min(len(metrics), 4)
    nrows = math.ceil(len(metrics) / ncols)
    fig = plt.figure(figsize=figsize or (DOUBLE_COLUMN_WIDTH, 0.4 + 1.65 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        _draw_metric_bars(ax, summary, metric, notions, models)
        ax.set_title(SHORT_NAMES[metric])
    handles = _model_handles(models)
    spare = axes[len(metrics):]
    for ax in spare:
        ax.axis("off")
    if len(spare) > 0 and len(handles) <= 10 * len(spare):
        spare[0].legend(handles=handles, loc="center", ncol=math.ceil(len(handles) / 10), handlelength=1.0)
    else:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), handlelength=1.0,
                   columnspacing=1.0)
    return finish(fig, f"{', '.join(SHORT_NAMES[m] for m in metrics)} per notion and model (mean ± std over seeds)",
                  caveat)


def _check_summary(summary: Any, metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    """Validate a summarize() frame for these metrics; return its notions and model keys in plot order."""
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"metric {bad[0]!r} is not one of the paper's metrics: choose from {list(METRICS)}")
    if not isinstance(summary, pd.DataFrame) or summary.index.nlevels != 2:
        raise ConfigError("summary must be the DataFrame from indirect_core.experiment.summarize(runs), "
                          "indexed by (notion, model)")
    if summary.empty:
        raise ConfigError("summary is empty: run at least one notion and model first")
    missing = [(m, s) for m in metrics for s in ("mean", "std") if (m, s) not in summary.columns]
    if missing:
        raise ConfigError(f"summary has no column {missing[0]}: pass the output of summarize(runs)")
    keys = list(dict.fromkeys(summary.index.get_level_values(1)))
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        raise ConfigError(f"summary has unknown model key(s) {unknown}: use keys from {list(MODELS)}")
    notions = [str(n) for n in dict.fromkeys(summary.index.get_level_values(0))]
    return notions, [k for k in MODELS if k in keys]


def _draw_metric_bars(ax: Axes, summary: pd.DataFrame, metric: str, notions: list[str], models: list[str]) -> None:
    """Draw grouped bars on ax: one BarContainer per model labelled with its display name; 'n/a' for NaN."""
    colours = model_colours()
    group = 0.82
    width = group / len(models)
    index = {(str(n), k): i for i, (n, k) in enumerate(summary.index)}
    means = summary[(metric, "mean")].to_numpy(dtype=float)
    stds = np.nan_to_num(summary[(metric, "std")].to_numpy(dtype=float), nan=0.0)
    for j, key in enumerate(models):
        xs, heights, errors = [], [], []
        for i, notion in enumerate(notions):
            row = index.get((notion, key))
            if row is None:  # model not run for this notion: leave the slot empty
                continue
            x = i - group / 2 + (j + 0.5) * width
            if math.isnan(means[row]):
                ax.text(x, 0.015, "n/a", rotation=90, ha="center", va="bottom", fontsize=5.5, color="0.3")
                continue
            xs.append(x)
            heights.append(means[row])
            errors.append(stds[row])
        ax.bar(xs, heights, width, yerr=errors, color=colours[key], edgecolor="white", linewidth=0.3,
               label=display_name(key), error_kw=dict(elinewidth=0.6, ecolor="0.15", capsize=1.2, capthick=0.6))
    ax.set_ylim(0, 1)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlim(-0.5, len(notions) - 0.5)
    ax.set_xticks(range(len(notions)))
    slot_in = ax.get_position().width * ax.figure.get_figwidth() / max(len(notions), 1)
    longest = max(len(n) for n in notions)
    if longest * 0.065 > slot_in:  # ~8 pt characters would collide: tilt the notion names
        ax.set_xticklabels(notions, rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels(notions)
    ax.grid(axis="x", visible=False)
    ax.tick_params(axis="x", length=0)


def _model_handles(models: Sequence[str]) -> list[Patch]:
    """Legend patches for these model keys, in paper order."""
    colours = model_colours()
    return [Patch(facecolor=colours[k], edgecolor="none", label=display_name(k)) for k in models]


def plot_sweep(runs: pd.DataFrame, x: str, metric: str = "mean_average_precision_at_r", x_label: str | None = None,
               caveat: str | None = None) -> Figure:
    """One panel per notion: the metric (mean ± std over seeds) against a swept setting, one line per model.

    ``runs`` has columns notion, model, seed, the metric and ``x`` (numbers are drawn on a log2 axis when they
    span more than a factor of 8; anything else is treated as categories, e.g. backbone names).
    """
    set_theme()
    if metric not in METRICS:
        raise ConfigError(f"metric={metric!r} is not one of {list(METRICS)}")
    needed = ["notion", "model", metric, x]
    if not isinstance(runs, pd.DataFrame) or any(c not in runs.columns for c in needed) or runs.empty:
        raise ConfigError(f"runs must be a non-empty DataFrame with columns {needed}")
    stats = runs.groupby(["notion", "model", x], sort=False)[metric].agg(["mean", lambda v: v.std(ddof=0)])
    stats.columns = ["mean", "std"]
    stats = stats.reset_index()
    notions = [str(n) for n in dict.fromkeys(runs["notion"])]
    order = [m for m in MODELS if m in set(runs["model"])]
    numeric = pd.api.types.is_numeric_dtype(runs[x])
    categories = list(dict.fromkeys(runs[x]))
    columns = min(len(notions), 3)
    rows = -(-len(notions) // columns)
    width = COLUMN_WIDTH if columns == 1 else DOUBLE_COLUMN_WIDTH
    fig, axes = plt.subplots(rows, columns, figsize=(width, 2.1 * rows + 0.4), squeeze=False, sharey=True,
                             layout="constrained")
    colours = model_colours()
    for ax, notion in zip(axes.flat, notions):
        for model in order:
            line = stats[(stats["notion"] == notion) & (stats["model"] == model)].dropna(subset=["mean"])
            if line.empty:
                continue
            xs = line[x].to_numpy(dtype=float) if numeric else [categories.index(v) for v in line[x]]
            ax.plot(xs, line["mean"], marker="o", markersize=3, color=colours[model], label=display_name(model))
            ax.fill_between(xs, line["mean"] - line["std"], line["mean"] + line["std"], color=colours[model],
                            alpha=0.2, linewidth=0)
        if numeric and runs[x].max() / max(runs[x].min(), 1e-12) > 8:
            ax.set_xscale("log", base=2)
            ticks = sorted(runs[x].unique())
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks], rotation=45 if len(ticks) > 6 else 0)
            ax.minorticks_off()
        elif numeric:
            ax.set_xticks(sorted(runs[x].unique()))
        else:
            ax.set_xticks(range(len(categories)))
            ax.set_xticklabels([str(c) for c in categories])
        ax.set_title(notion)
        ax.set_xlabel(x_label or x)
        ax.set_ylim(0, 1)
    for ax in axes.flat[len(notions):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(SHORT_NAMES[metric])
    fig.legend(handles=_model_handles(order), loc="outside lower center", ncols=min(len(order), 4))
    return finish(fig, f"{SHORT_NAMES[metric]} against the {x_label or x} (mean ± std over seeds)", caveat)


def plot_composed_recall(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                         caveat: str | None = None) -> Figure:
    """Composed retrieval: one panel per benchmark subset, metrics (e.g. R@1 ... R@50) on x, one bar per
    method, values in percent."""
    set_theme()
    needed = {"benchmark", "split", "subset", "method"}
    if not isinstance(table, pd.DataFrame) or not needed <= set(table.columns):
        raise ConfigError(f"table must be a composed results table with columns {sorted(needed)} and metrics")
    metrics = list(metrics) if metrics is not None else [
        c for c in table.columns if "@" in str(c) and table[c].notna().any()]
    if not metrics:
        raise ConfigError("the composed results table has no metric column (e.g. 'R@1') to plot")
    blocks = list(table.groupby(["benchmark", "split", "subset"], sort=False))
    methods = list(dict.fromkeys(table["method"]))
    palette = sns.color_palette(n_colors=len(methods))
    colours = {m: COMPOSED_HEX.get(m, palette[i]) for i, m in enumerate(methods)}
    ncols = min(len(blocks), 3)
    nrows = math.ceil(len(blocks) / ncols)
    width = COLUMN_WIDTH if ncols == 1 and len(metrics) * len(methods) <= 12 else DOUBLE_COLUMN_WIDTH
    fig = plt.figure(figsize=(width, 2.1 * nrows + 0.35), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    bar = 0.8 / len(methods)
    for ax, ((benchmark, split, subset), part) in zip(axes, blocks):
        x = np.arange(len(metrics))
        for i, method in enumerate(methods):
            row = part[part["method"] == method]
            if row.empty:
                continue
            values = [100 * float(row[m].iloc[0]) if m in row and pd.notna(row[m].iloc[0]) else np.nan
                      for m in metrics]
            ax.bar(x - 0.4 + bar * (i + 0.5), values, bar, color=colours[method], label=method)
        ax.set_xticks(x, [m.replace("R_subset@", "Rs@") for m in metrics])  # CIRR's short name
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.set_title(f"{benchmark}{' / ' + subset if subset else ''} ({split})")
    for ax in axes[len(blocks):]:
        ax.axis("off")
    handles = [Patch(facecolor=colours[m], label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5), handlelength=1.0,
               columnspacing=1.0)
    return finish(fig, f"Composed retrieval: {', '.join(metrics)} per method (%)", caveat)


def plot_mask_share(shares: pd.DataFrame, caveat: str | None = None) -> Figure:
    """Mean share of attribution inside the object mask per space (bars, images as dots); dashes = object area."""
    set_theme()
    needed = ["space", "mask_share", "object_area"]
    if not isinstance(shares, pd.DataFrame) or any(c not in shares.columns for c in needed):
        raise ConfigError(f"shares must be a DataFrame with columns {needed} (one row per space and image)")
    if shares.empty:
        raise ConfigError("shares is empty: compute at least one mask share")
    values = shares[["mask_share", "object_area"]].to_numpy(dtype=float)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ConfigError("shares: mask_share and object_area must be fractions in [0, 1]")
    spaces = [str(s) for s in dict.fromkeys(shares["space"])]
    fig = plt.figure(figsize=(COLUMN_WIDTH if len(spaces) <= 6 else DOUBLE_COLUMN_WIDTH, 2.3), layout="constrained")
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)  # fixed jitter: identical figures across reruns
    for i, space in enumerate(spaces):
        rows = shares[shares["space"].astype(str) == space]
        colour = MODEL_HEX["clip"] if space == "CLIP" else MODEL_HEX["indirect"]
        ax.bar(i, rows["mask_share"].mean(), 0.6, color=colour, alpha=0.85, label=space)
        ax.plot(i + rng.uniform(-0.15, 0.15, len(rows)), rows["mask_share"], "o", color="0.15", markersize=2.5)
        ax.hlines(rows["object_area"].mean(), i - 0.4, i + 0.4, colors="black", linestyles="--", linewidth=1.0)
    ax.set_ylim(0, 1)
    ax.set_xlim(-0.6, len(spaces) - 0.4)
    ax.set_xticks(range(len(spaces)))
    slot_in = ax.get_position().width * fig.get_figwidth() / len(spaces)
    tilt = max(len(s) for s in spaces) * 0.065 > slot_in
    ax.set_xticklabels(spaces, rotation=30 if tilt else 0, ha="right" if tilt else "center", rotation_mode="anchor")
    ax.set_ylabel("attribution inside object")
    ax.grid(axis="x", visible=False)
    ax.tick_params(axis="x", length=0)
    reference = Line2D([], [], color="black", linestyle="--", linewidth=1.0, label="object area (uniform map)")
    fig.legend(handles=[reference], loc="outside lower center", handlelength=1.8)
    return finish(fig, "Share of attribution inside the object mask per space (dots: images)", caveat)


def plot_cross_notion(matrix: pd.DataFrame, caveat: str | None = None) -> Figure:
    """Heat map of the cross-notion matrix (``analysis.cross_notion``): the space of each notion (rows) on the
    labels of each notion (columns), values printed, each notion's own space framed, the CLIP row below a line."""
    set_theme()
    if not isinstance(matrix, pd.DataFrame) or matrix.empty or not np.isfinite(matrix.to_numpy(float)).all():
        raise ConfigError("matrix must be a non-empty DataFrame of finite values (analysis.cross_notion)")
    notions = [str(c) for c in matrix.columns]
    rows = [str(r) for r in matrix.index]
    size = max(COLUMN_WIDTH, 0.9 * len(notions) + 1.6)
    fig = plt.figure(figsize=(min(size, DOUBLE_COLUMN_WIDTH), 0.42 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    sns.heatmap(matrix.astype(float), annot=True, fmt=".3f", cmap="Blues", vmin=0.0,
                vmax=max(1e-9, float(matrix.to_numpy(float).max())), cbar=False, ax=ax, linewidths=0.5,
                linecolor="white", annot_kws={"fontsize": 7})
    for i, row in enumerate(rows):
        if row in notions:
            ax.add_patch(plt.Rectangle((notions.index(row), i), 1, 1, fill=False, edgecolor="black", linewidth=1.4))
    if len(rows) > len([r for r in rows if r in notions]):
        ax.axhline(len([r for r in rows if r in notions]), color="black", linewidth=1.0)
    ax.set_xlabel(f"labels of the notion ({SHORT_NAMES.get(matrix.attrs.get('metric', ''), 'MAP@R')})")
    ax.set_ylabel("space fitted for the notion")
    ax.set_xticklabels(notions, rotation=0)
    ax.set_yticklabels(rows, rotation=0)
    model = matrix.attrs.get("model_name", "InDiReCT")
    seeds = len(matrix.attrs.get("seeds", [])) or 1
    return finish(fig, f"Cross-notion matrix: each notion's {model} space on each notion's labels "
                       f"(MAP@R, mean over {seeds} seed(s); framed: the notion's own space; last row: CLIP features)",
                  caveat)
