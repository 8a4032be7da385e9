"""The explorer's map: a UMAP of a space's images coloured by a label column (the paper's embedding
visualisation), with UMAP's numba compilation started in the background while the page loads."""
from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._util.errors import ConfigError
from ..report import plots
from .space import Space


MIN_MAP_IMAGES = 4


UMAP_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.spectral", "umap.distances", "umap.sparse")
"""umap-learn modules whose numba functions the explorer keeps compiled on disk (most lack ``cache=True``)."""


@dataclass
class MapCompile:
    """UMAP's one-time numba compilation, run in a background thread: started, and seconds once done."""

    thread: threading.Thread
    started: float
    seconds: float | None = None
    error: str | None = None


_compile_lock, _caching_lock = threading.Lock(), threading.Lock()
_compile: MapCompile | None = None
_umap_caching = False


def prepare_map() -> MapCompile:
    """Compile UMAP's numba code in a background thread, once per process (later calls return the same run).

    umap-learn compiles its functions on first use (about 25 s of a loaded 2-core machine; minutes were seen);
    numba is asked to keep them on disk, so later processes on the machine load them in well under a second.
    """
    global _compile
    with _compile_lock:
        if _compile is None:
            thread = threading.Thread(target=_compile_umap, name="indirect-umap-compile", daemon=True)
            _compile = MapCompile(thread, time.perf_counter())
            thread.start()
        return _compile


def _compile_umap() -> None:
    """The body of ``prepare_map``'s thread: one tiny seeded map through the code path ``space_map`` takes."""
    run = _compile
    try:
        umap = _import_umap()
        points = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
        umap.UMAP(n_neighbors=4, n_components=2, metric="cosine", random_state=0, init="random",
                  n_jobs=1).fit_transform(points)
    except Exception as error:  # noqa: BLE001 - shown in the app; drawing the map reports it again if it persists
        run.error = f"{type(error).__name__}: {error}"
    finally:
        run.seconds = time.perf_counter() - run.started


def _import_umap() -> Any:
    """umap-learn, with numba asked (once per process) to cache what it compiles, where it can."""
    global _umap_caching
    import importlib

    import umap
    from numba.core.dispatcher import Dispatcher

    with _caching_lock:
        if not _umap_caching:
            for name in UMAP_MODULES:
                for value in vars(importlib.import_module(name)).values():
                    if isinstance(value, Dispatcher) and not value.overloads:
                        try:
                            value.enable_caching()
                        except Exception:  # noqa: BLE001 - one numba cannot cache is compiled each time, as before
                            pass
            _umap_caching = True
    return umap


def space_map(space: Space, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """(n_images, 2) UMAP coordinates of the space's embeddings (cosine metric, seeded: same map every time)."""
    if len(space) < MIN_MAP_IMAGES:
        raise ConfigError(f"space {space.name!r} has {len(space)} images: a map needs at least {MIN_MAP_IMAGES} images")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's notes on seeding, small graphs and its optional TensorFlow
        umap = _import_umap()
        reducer = umap.UMAP(n_neighbors=max(2, min(n_neighbors, len(space) - 1)), n_components=2, metric="cosine",
                            random_state=seed, init="spectral" if len(space) > 20 else "random", n_jobs=1)
        return np.asarray(reducer.fit_transform(space.embeddings), dtype=np.float64)


def default_label_column(space: Space) -> str | None:
    """The label column named like the space ("object colour" -> object_colour), else the first, else None."""
    columns = list(space.labels.columns)
    wanted = space.name.lower().replace(" ", "_").replace("-", "_")
    return next((c for c in columns if c.lower().replace(" ", "_").replace("-", "_") == wanted),
                columns[0] if columns else None)


def draw_map(space: Space, label_column: str | None = None, seed: int = 0) -> Any:
    """The map of one space, coloured by ``label_column`` (None: the first label column, if there is one)."""
    columns = list(space.labels.columns)
    if label_column is not None and label_column not in columns:
        raise ConfigError(f"label_column={label_column!r} is not a label of space {space.name!r}: use one of "
                          f"{columns} or None")
    column = label_column or default_label_column(space)
    labels = space.labels[column].tolist() if column else None
    return plots.plot_space_map(space_map(space, seed=seed), labels, title=f"{space.name} · {space.solver_name}",
                          label_name=column, caveat=space.caveat)
