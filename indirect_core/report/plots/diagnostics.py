"""How a fit went and what its space looks like: the loss curve, the explained variance of the prompt embeddings
per direction, and a 2-D map of the images."""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from ..._util.errors import ConfigError
from ..._util.validation import check_optional_int
from .style import COLUMN_WIDTH, MODEL_HEX, OKABE_ITO, finish, set_theme


def plot_loss_curve(loss_curve: Sequence[float], title: str = "", caveat: str | None = None,
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
    ax.plot(iterations, values, color=MODEL_HEX["indirect"], linewidth=1.2, marker="o" if len(values) == 1 else None)
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
    return finish(fig, f"Loss curve: {title}" if title else "Loss curve", caveat)


def plot_explained_variance(ratios: Sequence[float], n_components: int | None = None,
                            caveat: str | None = None) -> Figure:
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
    bars = ax.bar(directions, values, width=1.0 if len(values) > 40 else 0.8, color=OKABE_ITO["sky_blue"],
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
        handles.append(ax.axvline(n_components + 0.5, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.0,
                                  label=f"{n_components} kept ({cumulative[n_components - 1]:.0%})"))
    elif n_components is not None:  # as many components as directions or more: every direction is kept
        ax.set_title(f"k={n_components}: all {len(values)} directions kept", fontsize=7)
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), handlelength=1.2, columnspacing=1.0)
    return finish(fig, f"Explained variance of the prompt embeddings per direction ({len(values)} directions)",
                  caveat)


def _as_1d(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D float array, or a ConfigError naming the parameter."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {array.shape}")
    return array


def plot_space_map(coordinates: np.ndarray, labels: Sequence[str] | None = None, title: str = "",
                   label_name: str | None = None, caveat: str | None = None) -> Figure:
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
    return finish(fig, title or f"Map of {len(coordinates)} images", caveat)
