"""The explorer behind ``notebooks/07_explore.ipynb``: search several spaces side by side, and map one in 2-D.

An ipywidgets app (a text box, an indexed-image picker and an upload for the query; a choice of spaces; one
grid of the top-k per space with scores; keep / change controls per space for a composed search, which keeps
what the query image shows in the kept spaces and matches each changed space's text, ``search_composed``; a UMAP
map of a space coloured by a label column, the paper's embedding visualisation), the static HTML page an
executed notebook saves (widgets render blank offline), and the Voila command that serves the notebook as a web
page (``make explore``).
"""
from __future__ import annotations

import base64
import html
import io
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from .._util.atomic import atomic_path, write_text_atomic
from .._util.errors import ConfigError, IndirectError, UnreadableImageError
from ..backbone.images import read_rgb
from ..core.index import check_k
from .._util.naming import slug
from ..report.notebook import banner_html
from .composed_search import search_composed
from .explorer_map import default_label_column, draw_map, prepare_map
from .space import Space, notion_spaces


NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "07_explore.ipynb"


THUMBNAIL_PX = 112
"""Longest side of a result thumbnail (pixels)."""


MAX_PICKER = 2000
"""The image picker lists at most this many indexed images (a dropdown of a million would not load)."""


HIT_CLASS, GRID_CLASS, APP_CLASS, NAME_CLASS = "indirect-hit", "indirect-grid", "indirect-explorer", "indirect-name"
"""CSS classes of a result image, of one space's grid, of the app and of a tile's file name (the browser test
looks for them)."""


MAP_STATUS_CLASS, MAP_CLASS = "indirect-map-status", "indirect-map"
"""CSS classes of the map's status line and of the map image."""


ROLE_CLASS, CHANGE_CLASS, COMPOSE_CLASS = "indirect-role", "indirect-change", "indirect-compose"
"""CSS classes of a space's keep/change choice and change text (each also ``<class>-<space slug>``) and of the
composed search's button."""


ROLES = (("–", ""), ("keep", "keep"), ("change", "change"))
"""A space's part in a composed search: none, keep the reference image, or change to its text."""


COMPOSED = "composed"
"""The grid name of a composed search's results."""


EXAMPLE_QUERY = "a red shape"
"""The first query on the example collection (``query="auto"``); a user's own collection starts with none."""


_GRID_STYLE = (f".{GRID_CLASS}{{flex:1 1 0;min-width:180px}}"
               f".{GRID_CLASS} h4{{margin:.2em 0;font-size:14px}}"
               f".{GRID_CLASS} .indirect-solver{{color:#666;font-size:11px;margin-bottom:.4em}}"
               f".{GRID_CLASS} .indirect-cells{{display:flex;flex-wrap:wrap;gap:6px}}"
               f".{GRID_CLASS} figure{{margin:0;width:{THUMBNAIL_PX}px;text-align:center;font-size:11px}}"
               f".{GRID_CLASS} img{{width:{THUMBNAIL_PX}px;height:{THUMBNAIL_PX}px;object-fit:contain;"
               "border:1px solid #ccc;background:#fafafa}"
               f".{GRID_CLASS} .{NAME_CLASS}{{display:block;overflow:hidden;text-overflow:ellipsis;"
               "white-space:nowrap;color:#444}"
               ".indirect-results{display:flex;gap:18px;align-items:flex-start}")


def collection(images: str | Path | None = None, dataset: str | None = None, data_root: str | Path | None = None,
               dataset_options: Mapping[str, Any] | None = None) -> Any:
    """What the explorer indexes: a registered ``dataset`` (with its labels), else ``images`` (a folder or a
    CSV), else the example collection (written on first use, see ``example_collection``)."""
    if dataset is not None:
        from ..data.datasets import load_dataset

        return load_dataset(dataset, root=data_root, **dict(dataset_options or {}))
    if images is not None:
        return images
    from ..data.datasets import load_image_csv
    from ..data.example_collection import write_example_collection

    root = write_example_collection()
    return load_image_csv(root / "labels.csv", name=root.name)


def first_query(query: str | None, example: bool) -> str | None:
    """The query the app starts with: ``query`` itself, except "auto": ``EXAMPLE_QUERY`` on the example
    collection (``example``), no query on a user's own spaces or images."""
    if query == "auto":
        return EXAMPLE_QUERY if example else None
    return query


def open_spaces(backbone: Any, folders: Sequence[str | Path] = (), images: Any = None,
                notions: Sequence[Any] = (), **fit_settings: Any) -> dict[str, Space]:
    """Saved spaces by name (``folders``), or "CLIP" plus one space per notion fitted now over ``images``."""
    if folders:
        spaces: dict[str, Space] = {}
        for folder in folders:
            space = Space.load(folder, backbone, cache_dir=fit_settings.get("cache_dir"))
            if space.name in spaces:
                raise ConfigError(f"two spaces are named {space.name!r} ({folder}): save them under different "
                                  "names (space fit --name)")
            spaces[space.name] = space
        return spaces
    if images is None or not notions:
        raise ConfigError("give saved space folders, or images and at least one notion to fit spaces on")
    return notion_spaces(backbone, notions, images, **fit_settings)


def describe_spaces(spaces: Mapping[str, Space]) -> pd.DataFrame:
    """One row per space: solver, seed, prompts, dimensions and images (what the app compares)."""
    return pd.DataFrame([{"space": name, "solver": s.solver_name,
                          "seed": "-" if s.random_state is None else s.random_state, "prompts": len(s.prompts),
                          "dimensions": s.n_components, "images": len(s), "skipped": len(s.skipped)}
                         for name, s in spaces.items()]).set_index("space")


@lru_cache(maxsize=4096)
def _thumbnail(path: str, stamp: float, size: int) -> str:
    image = read_rgb(path)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail_uri(path: str | Path, size: int = THUMBNAIL_PX) -> str:
    """A PNG data URI of the image, at most ``size`` pixels a side (cached per file version)."""
    path = Path(path)
    try:
        return _thumbnail(str(path), path.stat().st_mtime, size)
    except (OSError, UnreadableImageError):
        return ""


def grid_html(name: str, results: pd.DataFrame, solver: str = "") -> str:
    """One space's top-k as an HTML grid: thumbnails with rank, score and file name; each image carries its path."""
    cells = []
    for row in results.itertuples(index=False):
        path = html.escape(str(row.path), quote=True)
        cells.append(f"<figure><img class='{HIT_CLASS}' src='{thumbnail_uri(row.path)}' data-path='{path}' "
                     f"title='{path}' alt='{html.escape(Path(row.path).name, quote=True)}'>"
                     f"<figcaption>#{row.rank} · {row.score:.3f}<span class='{NAME_CLASS}'>"
                     f"{html.escape(Path(row.path).name)}</span></figcaption></figure>")
    return (f"<div class='{GRID_CLASS}' data-space='{html.escape(name, quote=True)}'><h4>{html.escape(name)}</h4>"
            f"<div class='indirect-solver'>{html.escape(solver)}</div>"
            f"<div class='indirect-cells'>{''.join(cells)}</div></div>")


def grids_html(results: Mapping[str, pd.DataFrame], spaces: Mapping[str, Space] | None = None) -> str:
    """The grids of several spaces side by side (with their stylesheet)."""
    solvers = {name: s.solver_name for name, s in (spaces or {}).items()}
    return (f"<style>{_GRID_STYLE}</style><div class='indirect-results'>" +
            "".join(grid_html(name, frame, solvers.get(name, "")) for name, frame in results.items()) + "</div>")


def static_page(results: Mapping[str, pd.DataFrame], spaces: Mapping[str, Space], title: str,
                map_png: bytes | None = None) -> str:
    """A self-contained HTML page of the grids (and the map): what an offline reader of the notebook sees."""
    caveat = next((s.caveat for s in spaces.values() if s.caveat), None)
    body = (banner_html(caveat) if caveat else "") + f"<h2>{html.escape(title)}</h2>" + grids_html(results, spaces)
    if map_png:
        body += ("<h3>Map of the space (UMAP)</h3><img alt='UMAP map' style='max-width:100%' src='data:image/png;"
                 f"base64,{base64.b64encode(map_png).decode('ascii')}'>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;margin:1.5em'>{body}</body></html>")


def write_static_page(path: str | Path, results: Mapping[str, pd.DataFrame], spaces: Mapping[str, Space],
                      title: str, map_figure: Any = None) -> Path:
    """Write ``static_page`` atomically (the map figure, if given, embedded as PNG)."""
    return write_text_atomic(path, static_page(results, spaces, title, figure_png(map_figure) if map_figure else None))


def figure_png(figure: Any, dpi: int = 150) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class Explorer:
    """The widget app: query by text, by an indexed image or by an upload; top-k grids of the chosen spaces
    side by side; a map of one space on request. ``widget`` is what the notebook displays."""

    def __init__(self, spaces: Mapping[str, Space], k: int = 8, query: str | None = None, seed: int = 0,
                 prepare: bool = True) -> None:
        """``prepare``: compile UMAP in the background while the page loads (``prepare_map``), its progress
        shown under the map's button."""
        import ipywidgets as widgets

        if not spaces:
            raise ConfigError("the explorer needs at least one space")
        self.spaces = dict(spaces)
        self.seed = seed
        self.results: dict[str, pd.DataFrame] = {}
        self.query: tuple[str, str] | None = None
        self._upload_dir = Path(tempfile.mkdtemp(prefix="indirect-explore-"))
        first = next(iter(self.spaces.values()))
        self.text = widgets.Text(value="", placeholder="describe what you look for, then press Enter",
                                 description="Text", continuous_update=False,
                                 layout=widgets.Layout(width="420px"))
        self.text.add_class("indirect-query-text")
        listed = first.paths[:MAX_PICKER]
        hint = "(pick an indexed image)" if len(first) <= MAX_PICKER else \
            f"(pick one of the first {MAX_PICKER} of {len(first)} images, or upload)"
        self.picker = widgets.Dropdown(options=[(hint, "")] + [(_short(p, listed), p) for p in listed],
                                       value="", description="Image", layout=widgets.Layout(width="420px"))
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.choices = {name: widgets.Checkbox(value=True, description=name, indent=False,
                                               layout=widgets.Layout(width="auto"))
                        for name in self.spaces}
        self.k = widgets.BoundedIntText(value=check_k(k), min=1, max=max(1, max(len(s) for s in self.spaces.values())),
                                        description="k", layout=widgets.Layout(width="140px"))
        self.roles, self.changes = {}, {}
        for name in self.spaces:
            role = widgets.Dropdown(options=list(ROLES), value="", description=name,
                                    layout=widgets.Layout(width="230px"), style={"description_width": "initial"})
            text = widgets.Text(value="", placeholder="text for this space, e.g. red",
                                layout=widgets.Layout(width="200px"))
            role.add_class(ROLE_CLASS)
            role.add_class(f"{ROLE_CLASS}-{slug(name)}")
            text.add_class(CHANGE_CLASS)
            text.add_class(f"{CHANGE_CLASS}-{slug(name)}")
            self.roles[name], self.changes[name] = role, text
        self.compose_button = widgets.Button(description="Composed search",
                                             tooltip="keep the query image in the kept spaces, match the text in the "
                                                     "changed ones")
        self.compose_button.add_class(COMPOSE_CLASS)
        self.compose_button.on_click(lambda _: self.compose())
        self.status = widgets.HTML()
        self.grids = widgets.HTML()
        self.grids.add_class("indirect-grids")
        self.map_space = widgets.Dropdown(options=list(self.spaces), description="Map of",
                                          value=next((n for n, s in self.spaces.items() if s.model is not None),
                                                     next(iter(self.spaces))))
        self.map_labels = widgets.Dropdown(description="Colour by")
        self._label_choices()
        self.map_space.observe(lambda _: self._label_choices(), "value")
        self.map_button = widgets.Button(description="Draw map", tooltip="UMAP of the space's embeddings")
        self.map_image = widgets.Image(format="png", layout=widgets.Layout(max_width="720px", display="none"))
        self.map_image.add_class(MAP_CLASS)
        self.map_status = widgets.HTML()
        self.map_status.add_class(MAP_STATUS_CLASS)
        self._drawing = threading.Event()
        self.text.observe(lambda change: self.search(text=change["new"]) if change["new"].strip() else None, "value")
        self.picker.observe(lambda change: self.search(image=change["new"]) if change["new"] else None, "value")
        self.upload.observe(self._uploaded, "value")
        for box in self.choices.values():
            box.observe(lambda _: self.refresh(), "value")
        self.k.observe(lambda _: self.refresh(), "value")
        self.map_button.on_click(lambda _: self.draw_map())
        self.widget = widgets.VBox([
            widgets.HTML("<b>Query</b>: type a description, pick an indexed image or upload one"),
            widgets.HBox([self.text, self.k]), widgets.HBox([self.picker, self.upload]),
            widgets.HBox([widgets.HTML("<b>Spaces</b>&nbsp;"), *self.choices.values()]),
            widgets.HTML("<b>Composed</b>: keep what the query image shows in some spaces, change others to a text "
                         "(score: the sum of the z-scored similarities)"),
            widgets.VBox([widgets.HBox([self.roles[n], self.changes[n]]) for n in self.spaces]),
            self.compose_button, self.status, self.grids,
            widgets.HTML("<b>Map</b>: a 2-D UMAP of one space, coloured by a label"),
            widgets.HBox([self.map_space, self.map_labels, self.map_button]), self.map_status, self.map_image])
        self.widget.add_class(APP_CLASS)
        self._prepared = prepare_map() if prepare else None
        self._progress = threading.Thread(target=self._follow_preparation, name="indirect-map-progress", daemon=True)
        if self._prepared is not None:
            self._progress.start()
        if query:
            self.text.value = query

    def _follow_preparation(self) -> None:
        """Show UMAP's compilation under the map's button, its elapsed seconds once a second, then its end."""
        run = self._prepared
        while run.thread.is_alive():
            if not self._drawing.is_set():
                self.map_status.value = (f"<i>preparing the map: numba compiles UMAP once per machine "
                                         f"({time.perf_counter() - run.started:.0f} s)…</i>")
            run.thread.join(timeout=1.0)
        if not self._drawing.is_set() and not self.map_image.value:
            self.map_status.value = (f"<span style='color:#b00020'>UMAP could not be prepared: "
                                     f"{html.escape(run.error)}</span>" if run.error else
                                     f"<i>map ready (UMAP prepared in {run.seconds:.1f} s)</i>")

    def _label_choices(self) -> None:
        """The map's colour choices: the chosen space's label columns, the one named like the space first."""
        space = self.spaces[self.map_space.value]
        self.map_labels.options = [("(none)", "")] + [(c, c) for c in space.labels.columns]
        self.map_labels.value = default_label_column(space) or ""

    def search(self, text: str | None = None, image: str | Path | None = None) -> dict[str, pd.DataFrame]:
        """Set the query (a text or an image path) and show its results in every chosen space."""
        if (text is None) == (image is None):
            raise ConfigError("give exactly one query: text='...' or image=path")
        self.query = ("text", text) if text is not None else ("image", str(image))
        return self.refresh()

    def refresh(self) -> dict[str, pd.DataFrame]:
        """Run the current query in the chosen spaces and redraw the grids (errors show as one line)."""
        if self.query is None:
            self.status.value = "<i>no query yet</i>"
            return {}
        kind, value = self.query
        chosen = [name for name, box in self.choices.items() if box.value]
        try:
            self.results = {name: self.spaces[name].search(**{kind: value}, k=self.k.value) for name in chosen}
        except IndirectError as error:  # the grids of an earlier query go: they do not answer this one
            self.results = {}
            self.grids.value = ""
            self.status.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"
            return {}
        shown = f"text {value!r}" if kind == "text" else f"image {Path(value).name}"
        picture = f"<img src='{thumbnail_uri(value, 64)}' style='height:48px;vertical-align:middle'> " \
            if kind == "image" else ""
        self.status.value = (f"{picture}query: {html.escape(shown)} · top {self.k.value} in {len(chosen)} "
                             f"space(s) · score = cosine similarity in the space")
        self.grids.value = grids_html(self.results, self.spaces)
        return self.results

    def compose(self, keep: Sequence[str] | None = None, change: Mapping[str, str] | None = None
                ) -> dict[str, pd.DataFrame]:
        """A composed search: the query image kept in the ``keep`` spaces, each ``change`` space matched to its
        text (default: the keep / change controls); its grid replaces the others (errors show as one line)."""
        if keep is None and change is None:
            keep = [n for n, role in self.roles.items() if role.value == "keep"]
            change = {n: self.changes[n].value for n, role in self.roles.items() if role.value == "change"}
        keep, change = list(keep or []), dict(change or {})
        involved = [n for n in self.spaces if n in keep or n in change]
        image = self.query[1] if self.query is not None and self.query[0] == "image" else None
        try:
            if not involved:
                raise ConfigError("choose keep or change for at least one space")
            result = search_composed({n: self.spaces[n] for n in involved}, image=image, keep=keep, change=change,
                                     k=self.k.value)
        except IndirectError as error:
            self.results = {}
            self.grids.value = ""
            self.status.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"
            return {}
        self.results = {COMPOSED: result}
        parts = ([f"keep {', '.join(keep)} of image {Path(image).name}"] if keep else []) + \
            [f"{n} → {t!r}" for n, t in change.items()]
        self.status.value = (f"composed query: {html.escape('; '.join(parts))} · top {self.k.value} · score = sum "
                             "of the z-scored similarities")
        self.grids.value = (f"<style>{_GRID_STYLE}</style><div class='indirect-results'>"
                            + grid_html(COMPOSED, result, " · ".join(p for p in (
                                ("keep " + ", ".join(keep)) if keep else "",
                                ("change " + ", ".join(change)) if change else "") if p)) + "</div>")
        return self.results

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        name = Path(upload.get("name") or "upload.png").name
        target = self._upload_dir / name
        with atomic_path(target) as tmp:
            tmp.write_bytes(bytes(upload["content"]))
        self.search(image=target)

    def draw_map(self) -> bytes:
        """Draw the chosen space's UMAP map into the app; returns the PNG."""
        import matplotlib.pyplot as plt

        self._drawing.set()
        try:
            if self._prepared is not None and self._prepared.thread.is_alive():
                self.map_status.value = "<i>waiting for UMAP to finish compiling (once per machine)…</i>"
                self._prepared.thread.join()
            space = self.spaces[self.map_space.value]
            self.map_status.value = f"<i>computing the UMAP map of {len(space)} images…</i>"
            started = time.perf_counter()
            try:
                figure = draw_map(space, self.map_labels.value or None, seed=self.seed)
            except IndirectError as error:
                self.map_status.value = f"<span style='color:#b00020'>{html.escape(str(error))}</span>"
                return b""
            png = figure_png(figure)
            plt.close(figure)
            self.map_image.value = png
            self.map_image.layout.display = ""
            self.map_status.value = f"<i>map of {space.name} drawn in {time.perf_counter() - started:.1f} s</i>"
            return png
        finally:
            self._drawing.clear()


def _short(path: str, paths: Sequence[str]) -> str:
    """A path as the picker shows it: relative to the collection's common folder."""
    import os

    try:
        return os.path.relpath(path, os.path.commonpath(paths)) if len(paths) > 1 else Path(path).name
    except ValueError:
        return path


def prepare_notebook(out: str | Path, spaces: Sequence[str | Path] = (), images: str | Path | None = None,
                     cache_dir: str | Path | None = None, **parameters: Any) -> Path:
    """``07_explore.ipynb`` with its parameters filled in (papermill's injected cell, nothing executed),
    written to ``out``; paths become absolute because Voila runs the notebook in its own folder. ``parameters``
    are other parameters of the notebook (``k``, ``backbone``, ``query``, ...; docs/PARAMETERS.md), the rest
    keep its defaults; all are checked as the notebook checks them, so a bad one fails before the page is served."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from ..batch.parameters import check_parameters

    values: dict[str, Any] = {"spaces": [str(Path(s).expanduser().absolute()) for s in spaces],
                              "images": str(Path(images).expanduser().absolute()) if images else None,
                              "draw_map": False, "static_copy": False,
                              "cache_dir": str(Path(cache_dir).absolute()) if cache_dir else None, **parameters}
    check_parameters(NOTEBOOK.stem, values)
    notebook = parameterize_notebook(load_notebook_node(str(NOTEBOOK)), values)
    target = Path(out) / NOTEBOOK.name
    with atomic_path(target) as tmp:
        nbformat.write(notebook, str(tmp))
    return target


def voila_command(notebook: str | Path, port: int = 8866) -> list[str]:
    """The command that serves ``notebook`` as a web page on 127.0.0.1:``port`` (no browser opened)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"port={port!r} must be an integer between 1 and 65535")
    return [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            "--theme=light", "--show_tracebacks=True"]
