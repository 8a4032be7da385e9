"""Figures made of images: a grid of thumbnails, each query's nearest images per space (framed right or wrong),
and attribution maps blended over their images."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from PIL import Image

from ..._util.errors import ConfigError
from ..._util.validation import check_int
from ...backbone.images import read_rgb, to_rgb
from .style import ATTRIBUTION_CMAP, CORRECT_COLOUR, DOUBLE_COLUMN_WIDTH, WRONG_COLOUR, finish, set_theme


def plot_image_grid(images: Sequence[Any], titles: Sequence[str] | None = None, ncols: int = 6,
                    caveat: str | None = None, title: str | None = None) -> Figure:
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
    return finish(fig, title or f"{len(arrays)} images", caveat)


def plot_neighbours(queries: Sequence[Any], neighbours: Mapping[str, Sequence[Sequence[Any]]],
                    correct: Mapping[str, Sequence[Sequence[bool]]] | None = None,
                    caveat: str | None = None, query_labels: Sequence[str] | None = None,
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
        fig.legend(handles=[Patch(facecolor="none", edgecolor=CORRECT_COLOUR, linewidth=1.5,
                                  label=f"\u2713 {legend[0]}"),
                            Patch(facecolor="none", edgecolor=WRONG_COLOUR, linewidth=1.5,
                                  label=f"\u2717 {legend[1]}")],
                   loc="outside lower center", ncol=2, fontsize=7, handlelength=1.2)
    return finish(fig, f"{len(query_arrays)} queries and their {k} nearest images in each of {len(grids)} spaces",
                  caveat)


def plot_attributions(images: Sequence[Any], maps: Mapping[str, Sequence[Any]],
                      titles: Sequence[str] | None = None, caveat: str | None = None) -> Figure:
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
            axes[i, j].imshow(space_maps[i], cmap=ATTRIBUTION_CMAP, vmin=0, vmax=1, alpha=0.6,
                              interpolation="bilinear", extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    axes[0, 0].set_title("image", fontsize=7, pad=3)
    for j, space in enumerate(heat, start=1):
        axes[0, j].set_title(_wrap(space, cell, max_lines=3), fontsize=7, pad=3)
    colourbar = fig.colorbar(mpl.cm.ScalarMappable(mpl.colors.Normalize(0, 1), ATTRIBUTION_CMAP), ax=axes,
                             shrink=min(0.8, 0.5 + 0.15 * nrows), aspect=20, pad=0.02)
    colourbar.set_label("attribution", fontsize=7)
    colourbar.ax.tick_params(labelsize=6)
    return finish(fig, f"Attribution maps of {len(arrays)} images in {len(heat)} spaces", caveat)


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
    colour, glyph = (CORRECT_COLOUR, "\u2713") if is_correct else (WRONG_COLOUR, "\u2717")
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
