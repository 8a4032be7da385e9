"""Publication figures: metric bars, loss curves, explained variance, image grids, neighbours, attributions.

Every helper applies :func:`set_theme` (seaborn "paper", colour-blind-safe Okabe–Ito colours, TrueType fonts),
sizes its figure for a paper column (3.3 in) or a double column (6.9 in), and returns the Figure.
Figures made from random-weight CLIP numbers get a red banner (``random_weights=True``). Each helper also gives
its figure a caption (the figure's label, saved as the files' title by :func:`save_figure` and read back by
:func:`figure_caption`), so a page showing the figure names it in words, never by its file name.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from PIL import Image

from .._util.atomic import atomic_path
from .._util.random_weights import RANDOM_WEIGHTS_MARKER
from .._util.errors import ConfigError
from .._util.validation import check_int, check_optional_int
from ..backbone.images import read_rgb, to_rgb
from ..core.metrics import METRICS, SHORT_NAMES
from ..core.models import MODELS, display_name

COLUMN_WIDTH = 3.3
"""Width in inches of one paper column (two-column layout)."""
DOUBLE_COLUMN_WIDTH = 6.9
"""Width in inches of a figure spanning both columns."""

# Okabe & Ito (2008) colour-blind-safe palette; InDiReCT gets the most salient hue (vermillion).
_OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
              "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
_MODEL_HEX = {"random": "#BBBBBB", "clip": "#777777", "indirect": _OKABE_ITO["vermillion"],
              "indirect-lbfgs": "#882255",
              "randtransform": _OKABE_ITO["purple"], "pca": _OKABE_ITO["sky_blue"], "lae": _OKABE_ITO["blue"],
              "ae": _OKABE_ITO["green"], "oracle": _OKABE_ITO["orange"]}
_COMPOSED_HEX = {"image-only": "#BBBBBB", "text-only": "#888888", "image + text": "#555555",
                 "Pic2Word": _OKABE_ITO["blue"], "LinCIR": _OKABE_ITO["vermillion"]}
"""Composed-retrieval methods: the three baselines in greys, the mappers in colour (others get the palette)."""
_CORRECT_COLOUR, _WRONG_COLOUR = _OKABE_ITO["green"], _OKABE_ITO["vermillion"]
_BANNER_COLOUR = "#C00000"
_BANNER_GID = "indirect-random-weights-banner"
_ATTRIBUTION_CMAP = "cividis"
_THEME_RC = {
    "figure.dpi": 150, "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
    "axes.titlesize": 8.5, "axes.titleweight": "normal", "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "grid.linewidth": 0.5,
    "lines.linewidth": 1.2, "patch.linewidth": 0.4, "errorbar.capsize": 1.5,
}


def set_theme() -> None:
    """Set the one seaborn/matplotlib theme of all figures (idempotent; every plot helper calls it)."""
    palette = [_MODEL_HEX[key] for key in ("indirect", "lae", "pca", "ae", "oracle", "randtransform", "clip")]
    sns.set_theme(context="paper", style="whitegrid", palette=palette, font_scale=0.9, rc=_THEME_RC)


def model_colours() -> dict[str, tuple[float, float, float]]:
    """Fixed RGB colour per model, keyed by model key and by display name (e.g. 'indirect' and 'InDiReCT')."""
    colours: dict[str, tuple[float, float, float]] = {}
    for key, hex_colour in _MODEL_HEX.items():
        colours[key] = colours[display_name(key)] = mpl.colors.to_rgb(hex_colour)
    return colours


CAPTION_KEY = "Title"
"""The PNG text chunk and PDF document field holding a saved figure's caption."""


def caption(fig: Figure, text: str) -> Figure:
    """Set the figure's caption (what a page writes under it): its label, saved with it by save_figure."""
    fig.set_label(" ".join(str(text).split()))
    return fig


def figure_caption(path: Path | str) -> str | None:
    """The caption saved in a PNG by save_figure (None for a figure saved without one)."""
    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(CAPTION_KEY) or None
    except OSError:
        return None


def save_figure(fig: Figure, stem: Path | str, formats: Sequence[str] = ("png", "pdf"), dpi: int = 300) -> list[Path]:
    """Write ``stem.<format>`` for each format atomically (folders created), with the figure's caption as the
    files' title; return the written paths."""
    if not isinstance(fig, Figure):
        raise ConfigError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if isinstance(formats, str):
        formats = (formats,)
    supported = fig.canvas.get_supported_filetypes()
    formats = [str(f).lower().lstrip(".") for f in formats]
    if not formats or any(f not in supported for f in formats):
        raise ConfigError(f"formats={list(formats)}: give one or more of {sorted(supported)}")
    if not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ConfigError(f"dpi={dpi!r}: give a positive number, e.g. 300")
    stem = Path(stem)
    if stem.suffix.lower().lstrip(".") in supported:
        raise ConfigError(f"stem={str(stem)!r} has a file extension: pass it without, e.g. "
                          f"{str(stem.with_suffix(''))!r}, and choose file types with formats=")
    written = []
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        for fmt in formats:
            target = stem.with_name(f"{stem.name}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else {}  # byte-stable PDFs across reruns
            if fig.get_label() and fmt in ("png", "pdf"):
                metadata[CAPTION_KEY] = fig.get_label()
            metadata = metadata or None
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.02, metadata=metadata)
            written.append(target)
    return written


def mark_random_weights(fig: Figure) -> Figure:
    """Put a red 'RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT' banner above the figure (once)."""
    if not isinstance(fig, Figure):
        raise ConfigError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if any(text.get_gid() == _BANNER_GID for text in fig.texts):
        return fig
    # Just above the figure's top edge: never over the axes; bbox_inches="tight" grows the saved image to fit it.
    above = mpl.transforms.offset_copy(fig.transFigure, fig=fig, y=5, units="points")  # box pad clears titles
    fig.text(0.5, 1.0, RANDOM_WEIGHTS_MARKER.upper(), transform=above, gid=_BANNER_GID, ha="center", va="bottom",
             fontsize=7 if fig.get_figwidth() < 4.5 else 9, fontweight="bold", color="white",
             bbox=dict(boxstyle="square,pad=0.35", facecolor=_BANNER_COLOUR, edgecolor="none"))
    return fig


# --- retrieval metrics ------------------------------------------------------------------------------------


def plot_metric_bars(summary: pd.DataFrame, metric: str = "mean_average_precision_at_r",
                     random_weights: bool = False, ax: Axes | None = None,
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
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_metrics_grid(summary: pd.DataFrame, metrics: Sequence[str] = METRICS, random_weights: bool = False,
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
    caption(fig, f"{', '.join(SHORT_NAMES[m] for m in metrics)} per notion and model (mean ± std over seeds)")
    if random_weights:
        mark_random_weights(fig)
    return fig


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


# --- training diagnostics ---------------------------------------------------------------------------------


def plot_composed_recall(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                         random_weights: bool = False) -> Figure:
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
    colours = {m: _COMPOSED_HEX.get(m, palette[i]) for i, m in enumerate(methods)}
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
    caption(fig, f"Composed retrieval: {', '.join(metrics)} per method (%)")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_space_map(coordinates: np.ndarray, labels: Sequence[str] | None = None, title: str = "",
                   label_name: str | None = None, random_weights: bool = False) -> Figure:
    """Scatter of a 2-D map, one colour per label (no colours without labels); the paper's embedding view."""
    set_theme()
    coordinates = np.asarray(coordinates)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH * 1.6, COLUMN_WIDTH * 1.25), layout="constrained")
    if labels is None:
        ax.scatter(coordinates[:, 0], coordinates[:, 1], s=12, color="#555555", linewidths=0)
    else:
        labels = np.asarray(labels).astype(str)
        names = sorted(set(labels.tolist()))
        palette = sns.color_palette("colorblind" if len(names) <= 10 else "husl", len(names))
        for name, colour in zip(names, palette):
            chosen = labels == name
            ax.scatter(coordinates[chosen, 0], coordinates[chosen, 1], s=12, color=colour, label=name, linewidths=0)
        if len(names) <= 20:
            ax.legend(title=label_name, fontsize=6, title_fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
                      markerscale=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    if title:
        ax.set_title(title)
    caption(fig, title or f"Map of {len(coordinates)} images")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_loss_curve(loss_curve: Sequence[float], title: str = "", random_weights: bool = False,
                    x_label: str = "iteration") -> Figure:
    """Loss per iteration (or per ``x_label``, e.g. "step"; log y when it spans more than two decades) with the
    best one marked."""
    set_theme()
    values = _as_1d(loss_curve, "loss_curve")
    finite = np.isfinite(values)
    if not finite.any():
        raise ConfigError("loss_curve has no finite value: the fit diverged from the start")
    fig = plt.figure(figsize=(COLUMN_WIDTH, 2.2), layout="constrained")
    ax = fig.add_subplot()
    iterations = np.arange(len(values))
    ax.plot(iterations, values, color=_MODEL_HEX["indirect"], linewidth=1.2, marker="o" if len(values) == 1 else None)
    low, high = values[finite].min(), values[finite].max()
    if low > 0 and high / low > 100:
        ax.set_yscale("log")
    best = int(np.nanargmin(np.where(finite, values, np.nan)))
    ax.plot(best, values[best], "o", color="black", markersize=4, zorder=3,
            label=f"best {values[best]:.3g} ({x_label} {best})")
    ax.legend(loc="best", handletextpad=0.3, borderaxespad=0.3)
    ax.set_xlabel(x_label)
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    caption(fig, f"Loss curve: {title}" if title else "Loss curve")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_explained_variance(ratios: Sequence[float], n_components: int | None = None,
                            random_weights: bool = False) -> Figure:
    """Explained-variance ratio per direction (bars) and cumulative (line, right axis); a line at n_components."""
    set_theme()
    values = _as_1d(ratios, "ratios")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ConfigError("ratios must be finite and non-negative (explained-variance ratios)")
    if values.sum() > 1 + 1e-6:
        raise ConfigError(f"ratios sum to {values.sum():.3g} > 1: pass explained-variance *ratios* "
                          "(variances divided by the total variance)")
    check_optional_int("n_components", n_components, hint="None: no cut")
    fig = plt.figure(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    ax = fig.add_subplot()
    directions = np.arange(1, len(values) + 1)
    bars = ax.bar(directions, values, width=1.0 if len(values) > 40 else 0.8, color=_OKABE_ITO["sky_blue"],
                  linewidth=0, label="per direction")
    ax.set_xlim(0.5, len(values) + 0.5)
    ax.set_ylim(0, values.max() * 1.08 if values.max() > 0 else 1)
    ax.set_xlabel("direction")
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("explained variance ratio")
    ax.grid(axis="x", visible=False)
    twin = ax.twinx()
    cumulative = np.cumsum(values)
    (line,) = twin.plot(directions, cumulative, color="0.1", linewidth=1.2, label="cumulative")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("cumulative")
    twin.grid(False)
    for axis in (ax, twin):  # twinx() turns tick marks back on; the grid already marks the values
        axis.tick_params(axis="y", length=0)
    twin.spines["right"].set_visible(True)
    handles = [bars, line]
    if n_components is not None and n_components < len(values):  # a cut inside the directions: draw it
        handles.append(ax.axvline(n_components + 0.5, color=_OKABE_ITO["vermillion"], linestyle="--", linewidth=1.0,
                                  label=f"{n_components} kept ({cumulative[n_components - 1]:.0%})"))
    elif n_components is not None:  # as many components as directions or more: every direction is kept
        ax.set_title(f"k={n_components}: all {len(values)} directions kept", fontsize=7)
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), handlelength=1.2, columnspacing=1.0)
    caption(fig, f"Explained variance of the prompt embeddings per direction ({len(values)} directions)")
    if random_weights:
        mark_random_weights(fig)
    return fig


def _as_1d(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float array, or a ConfigError naming the parameter."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {array.shape}")
    return array


# --- images -----------------------------------------------------------------------------------------------


def plot_image_grid(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int = 6,
                    random_weights: bool = False, title: str | None = None) -> Figure:
    """A grid of thumbnails (paths, PIL images or HxWx3 arrays) with small titles and a thin frame, axes off;
    ``title`` goes above the grid."""
    set_theme()
    arrays = _image_list(images, "images")
    titles = _labels(titles, len(arrays), "titles", "images")
    ncols = min(check_int("ncols", ncols, hint="e.g. 6"), len(arrays))
    nrows = math.ceil(len(arrays) / ncols)
    cell = min(DOUBLE_COLUMN_WIDTH / ncols, 1.3)
    aspect = float(np.median([a.shape[0] / a.shape[1] for a in arrays]))
    title_in = 0.25 if titles else 0.03
    fig = plt.figure(figsize=(cell * ncols, nrows * (cell * aspect + title_in)), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(arrays):
            ax.imshow(arrays[i])
            ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, linewidth=0.5,
                                   edgecolor="#c8c8c8"))
            if titles:
                ax.set_title(_wrap(titles[i], cell), fontsize=6.5, pad=2)
    if title:
        fig.suptitle(title, fontsize=8)
    caption(fig, title or f"{len(arrays)} images")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_neighbours(queries: Sequence[Any], neighbours: Mapping[str, Sequence[Sequence[Any]]],
                    correct: Mapping[str, Sequence[Sequence[bool]]] | None = None,
                    random_weights: bool = False, query_labels: Sequence[str] | None = None,
                    legend: tuple[str, str] = ("same class", "different class")) -> Figure:
    """One row per (query, space): the query, then its top-k neighbours there; green/red frames from correct.

    ``query_labels`` (one per query) are written under the query image, e.g. a composed query's modification
    text; ``legend`` names the green and the red frame.
    """
    set_theme()
    query_arrays = _image_list(queries, "queries")
    labels = None if query_labels is None else _labels(list(query_labels), len(query_arrays), "query_labels",
                                                       "queries")
    if not isinstance(neighbours, Mapping) or not neighbours:
        raise ConfigError("neighbours must be a non-empty dict {space name: one list of neighbour images per query}")
    grids: dict[str, list[list[np.ndarray]]] = {}
    for space, per_query in neighbours.items():
        if isinstance(per_query, (str, Path)) or len(per_query) != len(query_arrays):
            raise ConfigError(f"neighbours[{space!r}] must hold one neighbour list per query "
                              f"({len(query_arrays)}), got {len(per_query)}")
        grids[str(space)] = [_image_list(row, f"neighbours[{space!r}][{q}]") for q, row in enumerate(per_query)]
    correct = dict(correct or {})
    unknown = [s for s in correct if s not in neighbours]
    if unknown:
        raise ConfigError(f"correct has space(s) {unknown} that are not in neighbours ({list(neighbours)})")
    for space, per_query in correct.items():
        if len(per_query) != len(query_arrays) or any(
                len(flags) != len(row) for flags, row in zip(per_query, grids[str(space)])):
            raise ConfigError(f"correct[{space!r}] must have one flag per neighbour in neighbours[{space!r}]")
    k = max(len(row) for rows in grids.values() for row in rows)
    ncols, nrows = 1 + k, len(query_arrays) * len(grids)
    cell = min(0.8, (DOUBLE_COLUMN_WIDTH - 1.0) / ncols)
    height = 0.25 + (cell + 0.04) * nrows + (0.25 if correct else 0)
    fig = plt.figure(figsize=(1.0 + cell * ncols, height), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.03, hspace=0.03)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    row = 0
    for q, query in enumerate(query_arrays):
        for space, rows in grids.items():
            _show_image(axes[row, 0], query)
            axes[row, 0].set_ylabel(_wrap(space, 0.95, max_lines=4), rotation=0, ha="right", va="center", fontsize=7,
                                    labelpad=4)
            if labels:
                axes[row, 0].set_xlabel(_wrap(labels[q], cell * 1.6, max_lines=3), fontsize=5.5, labelpad=1)
            flags = correct.get(space)
            for j in range(k):
                ax = axes[row, 1 + j]
                if j >= len(rows[q]):
                    ax.axis("off")
                    continue
                _show_image(ax, rows[q][j])
                if flags is not None:
                    _frame(ax, bool(flags[q][j]))
            row += 1
    axes[0, 0].set_title("query", fontsize=7, pad=2)
    for j in range(k):
        axes[0, 1 + j].set_title(f"#{j + 1}", fontsize=7, pad=2)
    if correct:
        fig.legend(handles=[Patch(facecolor="none", edgecolor=_CORRECT_COLOUR, linewidth=1.5,
                                  label=f"\u2713 {legend[0]}"),
                            Patch(facecolor="none", edgecolor=_WRONG_COLOUR, linewidth=1.5,
                                  label=f"\u2717 {legend[1]}")],
                   loc="outside lower center", ncol=2, fontsize=7, handlelength=1.2)
    caption(fig, f"{len(query_arrays)} queries and their {k} nearest images in each of {len(grids)} spaces")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_attributions(images: Sequence[Any], maps: Mapping[str, Sequence[Any]],
                      titles: Sequence[str] | None = None, random_weights: bool = False) -> Figure:
    """One row per image: the image, then per space its attribution map blended over it (cividis)."""
    set_theme()
    arrays = _image_list(images, "images")
    titles = _labels(titles, len(arrays), "titles", "images")
    if not isinstance(maps, Mapping) or not maps:
        raise ConfigError("maps must be a non-empty dict {space name: one HxW map in [0, 1] per image}")
    heat: dict[str, list[np.ndarray]] = {}
    for space, per_image in maps.items():
        if len(per_image) != len(arrays):
            raise ConfigError(f"maps[{space!r}] has {len(per_image)} maps for {len(arrays)} images: "
                              "give one per image")
        heat[str(space)] = [_attribution_map(m, f"maps[{space!r}][{i}]") for i, m in enumerate(per_image)]
    ncols, nrows = 1 + len(heat), len(arrays)
    cell = min(1.1, (DOUBLE_COLUMN_WIDTH - 0.9) / ncols)
    fig = plt.figure(figsize=(0.9 + cell * ncols + (0.6 if titles else 0), 0.35 + cell * nrows), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.03, hspace=0.03)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, image in enumerate(arrays):
        _show_image(axes[i, 0], image)
        if titles:
            axes[i, 0].set_ylabel(_wrap(titles[i], 0.9, max_lines=4), rotation=0, ha="right", va="center", fontsize=7,
                                  labelpad=4)
        height, width = image.shape[:2]
        for j, (space, space_maps) in enumerate(heat.items(), start=1):
            _show_image(axes[i, j], image)
            axes[i, j].imshow(space_maps[i], cmap=_ATTRIBUTION_CMAP, vmin=0, vmax=1, alpha=0.6,
                              interpolation="bilinear", extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    axes[0, 0].set_title("image", fontsize=7, pad=3)
    for j, space in enumerate(heat, start=1):
        axes[0, j].set_title(_wrap(space, cell, max_lines=3), fontsize=7, pad=3)
    caption(fig, f"Attribution maps of {len(arrays)} images in {len(heat)} spaces")
    colourbar = fig.colorbar(mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), _ATTRIBUTION_CMAP), ax=axes,
                             shrink=min(0.8, 0.5 + 0.15 * nrows), aspect=20, pad=0.02)
    colourbar.set_label("attribution", fontsize=7)
    colourbar.ax.tick_params(labelsize=6)
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_mask_share(shares: pd.DataFrame, random_weights: bool = False) -> Figure:
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
        colour = _MODEL_HEX["clip"] if space == "CLIP" else _MODEL_HEX["indirect"]
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
    caption(fig, "Share of attribution inside the object mask per space (dots: images)")
    if random_weights:
        mark_random_weights(fig)
    return fig


def plot_sweep(runs: pd.DataFrame, x: str, metric: str = "mean_average_precision_at_r", x_label: str | None = None,
               random_weights: bool = False) -> Figure:
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
    caption(fig, f"{SHORT_NAMES[metric]} against the {x_label or x} (mean ± std over seeds)")
    if random_weights:
        mark_random_weights(fig)
    return fig


def _image_list(images: Any, name: str) -> list[np.ndarray]:
    """A non-empty list of images as HxWx3 (uint8 or float in [0, 1]) arrays, or a ConfigError naming the item."""
    if isinstance(images, (str, Path, Image.Image)) or (
            isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] in (3, 4)):
        raise ConfigError(f"{name} is a single image: pass a list of images, e.g. [{name}]")
    try:
        items = list(images)
    except TypeError:
        raise ConfigError(f"{name} must be a list of images (paths, PIL images or HxWx3 arrays)") from None
    if not items:
        raise ConfigError(f"{name} is empty: pass at least one image")
    return [_as_image(item, f"{name}[{i}]") for i, item in enumerate(items)]


def _as_image(image: Any, name: str) -> np.ndarray:
    """One image from a path, PIL image or array (HxW, HxWx1/3/4; uint8 or float in [0, 1]) as an RGB array."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise ConfigError(f"{name}: image file {str(path)!r} does not exist")
        return np.asarray(read_rgb(path))
    if isinstance(image, Image.Image):
        return np.asarray(to_rgb(image))
    if hasattr(image, "detach"):  # torch tensor
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
        raise ConfigError(f"{name} has shape {array.shape} (channels first): pass HxWx3, "
                          "e.g. array.transpose(1, 2, 0)")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4))) or 0 in array.shape:
        raise ConfigError(f"{name} has shape {array.shape}: pass an HxW or HxWx3 image")
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 2 or array.shape[-1] == 1:
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=2)
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind in "biu":
        if array.min() < 0 or array.max() > 255:
            raise ConfigError(f"{name} has integer values outside 0..255")
        return array.astype(np.uint8)
    if array.dtype.kind != "f":
        raise ConfigError(f"{name} has dtype {array.dtype}: pass uint8 or float in [0, 1]")
    if not np.isfinite(array).all() or array.min() < -1e-3 or array.max() > 1 + 1e-3:
        raise ConfigError(f"{name} has float values outside [0, 1] (e.g. CLIP-normalised pixels): rescale to [0, 1]")
    return np.clip(array, 0.0, 1.0)


def _attribution_map(heat: Any, name: str) -> np.ndarray:
    """An HxW float map in [0, 1], or a ConfigError naming the map."""
    if hasattr(heat, "detach"):
        heat = heat.detach().cpu().numpy()
    array = np.asarray(heat, dtype=float)
    if array.ndim != 2 or 0 in array.shape:
        raise ConfigError(f"{name} has shape {array.shape}: pass an HxW map")
    if not np.isfinite(array).all() or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ConfigError(f"{name} has values outside [0, 1]: normalise it, e.g. (m - m.min()) / (m.max() - m.min())")
    return np.clip(array, 0.0, 1.0)


def _labels(labels: Sequence[str] | None, n: int, name: str, of: str) -> list[str]:
    """Validated per-item labels (empty list when None)."""
    if labels is None:
        return []
    if isinstance(labels, str):
        raise ConfigError(f"{name} is a single string: pass one string per item of {of}")
    labels = [str(label) for label in labels]
    if len(labels) != n:
        raise ConfigError(f"{name} has {len(labels)} entries but {of} has {n}: give one per image")
    return labels


def _show_image(ax: Axes, image: np.ndarray) -> None:
    """Show an image with no ticks, grid or spines (the y label stays available for a row name)."""
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _frame(ax: Axes, is_correct: bool) -> None:
    """Frame a neighbour inside its border, green with a tick or red with a cross (the glyph survives greyscale)."""
    colour, glyph = (_CORRECT_COLOUR, "\u2713") if is_correct else (_WRONG_COLOUR, "\u2717")
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=colour, linewidth=4,
                           clip_on=True, gid="correct" if is_correct else "wrong"))  # half clipped: drawn inside
    ax.annotate(glyph, (0, 1), xycoords="axes fraction", xytext=(1.5, -1.5), textcoords="offset points",
                ha="left", va="top", fontsize=6.5, fontweight="bold", color="white",
                bbox=dict(boxstyle="square,pad=0.2", facecolor=colour, edgecolor="none"))


def _wrap(text: str, width_in: float, max_lines: int = 2) -> str:
    """Wrap a label to a width in inches (about 7 pt characters), at most max_lines lines."""
    chars = max(int(width_in / 0.06), 6)
    lines = textwrap.wrap(str(text), chars) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: chars - 1] + "…"
    return "\n".join(lines)
