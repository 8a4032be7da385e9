"""The Space a user holds: a custom embedding space made from a few words, with an index of images to search.

A Space is a backbone identity, the prompts that describe a notion (a template + words, or a list), the
projection U fitted on those prompts alone (solver and seed recorded) and an index of the images added to it.
``search(text=...)`` projects the query's CLIP text feature with the same U; ``search(image=...)`` projects
the image's CLIP feature. ``Space.clip`` is the comparison: raw CLIP features, normalised, no projection.
Images go through the embedding cache (``image_features``), so spaces over the same images share one cache.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .._util.atomic import atomic_path, write_json_atomic, write_text_atomic
from .._util.errors import ConfigError, DatasetError
from .._util.validation import as_matrix, check_int
from ..analysis.study import fit_space
from ..backbone import Backbone, sha256_file, spec_weights
from ..core.index import AUTO, DEFAULT_NPROBE, INDEX_KINDS, IVF, IVFIndex, ExactIndex, check_k, make_index, resolve_kind
from ..core.models import INDIRECT_KEYS, Reducer, display_name, l2_normalize
from ..core.projections import load_projection, save_projection
from ..data.datasets import Dataset
from ..data.notions import Notion
from ..features.cache import image_features
from .space_folder import (EMBEDDINGS_FILE, IMAGES_FILE, IVF_FILE, PROJECTION_FILE, SPACE_FILE, SPACE_FORMAT,
                           check_backbone, read_space_record, replace_folder)
from .space_inputs import (COLLECTION, identity_path, image_collections, image_query_feature, notion_of,
                           resolve_backbone, spec_of, words_of)

CLIP_SOLVER = "clip"
"""The solver recorded for ``Space.clip`` (no projection: raw CLIP features, normalised)."""
DEFAULT_SOLVER = "indirect-lbfgs"
"""A user's space defaults to our fast deterministic solver; every space records and shows which it used."""
NOT_MODEL_OPTIONS = ("n_components", "random_state", "progress")
"""Estimator parameters a space does not list among its model options."""
REFIT_GROWTH = 4
"""An IVF index is trained again once the collection has grown to this many times its training size."""


class Space:
    """A notion's embedding space with an index of images: fit from prompts, add images, search, save, load.

    Build one with ``Space.from_prompts`` (InDiReCT on the prompts) or ``Space.clip`` (raw CLIP), or read
    one with ``Space.load``; the constructor is internal.
    """

    def __init__(self, backbone: Backbone, model: Reducer | None, notion: Notion | None, *, name: str,
                 solver: str, index: str = AUTO, nprobe: int = DEFAULT_NPROBE,
                 cache_dir: str | Path | None = None, backbone_spec: str | None = None) -> None:
        if not isinstance(backbone, Backbone):
            raise ConfigError(f"backbone must be a Backbone (ic.load_backbone(...)) or a spec string, got "
                              f"{type(backbone).__name__}")
        if index not in INDEX_KINDS:
            raise ConfigError(f"index={index!r} is not an index kind: use one of {list(INDEX_KINDS)}")
        self.name = name
        self.solver = solver
        self.index_kind = index
        self.nprobe = check_int("nprobe", nprobe, hint="IVF cells scanned per query")
        self.cache_dir = cache_dir
        self.backbone_spec = backbone_spec or spec_of(backbone)
        self._backbone = backbone
        self._model = model
        self._notion = notion
        dim = backbone.embed_dim if model is None else int(model.components_.shape[0])
        self._embeddings = np.empty((0, dim), dtype=np.float32)
        self._paths: list[str] = []
        self._known: set[str] = set()
        self._labels = pd.DataFrame()
        self.skipped: dict[str, str] = {}
        """Files left out: path -> why (unreadable images, missing files, and what a folder scan passed over)."""
        self._index: ExactIndex | IVFIndex | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_prompts(cls, backbone: Backbone | str, prompts: Sequence[str] | Notion | str | Path | None = None, *,
                     template: str | None = None, words: Sequence[str] | str | Path | None = None,
                     n_components: int = 128, solver: str = DEFAULT_SOLVER, random_state: int | None = 0,
                     model_options: Mapping[str, Any] | None = None, name: str | None = None,
                     index: str = AUTO, nprobe: int = DEFAULT_NPROBE, cache_dir: str | Path | None = None,
                     device: str = "cpu", progress: bool = False) -> "Space":
        """A space fitted by InDiReCT on prompts only: a list of prompts (or a prompt file, one per line), a
        ``Notion``, or ``template`` + ``words`` (a list or a word file). ``solver`` is "indirect-lbfgs" (our
        fast deterministic solver, the default) or "indirect" (the authors' Adam procedure, seeded by
        ``random_state``); ``model_options`` go to that model (e.g. ``{"patience": 100}``)."""
        if solver not in INDIRECT_KEYS:
            raise ConfigError(f"solver={solver!r} must be 'indirect' (the authors' Adam procedure, "
                              f"{display_name('indirect')}) or 'indirect-lbfgs' (our fast deterministic solver, "
                              f"{display_name('indirect-lbfgs')})")
        notion = notion_of(prompts, template, words, name)
        bb, spec = resolve_backbone(backbone, cache_dir, device)
        model, _ = fit_space(bb, notion, model=solver, n_components=n_components, seed=random_state,
                             model_options=dict(model_options or {}), progress=progress)
        return cls(bb, model, notion, name=notion.name, solver=solver, index=index, nprobe=nprobe,
                   cache_dir=cache_dir, backbone_spec=spec)

    @classmethod
    def clip(cls, backbone: Backbone | str, *, name: str = "CLIP", index: str = AUTO,
             nprobe: int = DEFAULT_NPROBE, cache_dir: str | Path | None = None, device: str = "cpu") -> "Space":
        """The comparison space: raw CLIP image features, L2-normalised, no projection (no prompts)."""
        bb, spec = resolve_backbone(backbone, cache_dir, device)
        return cls(bb, None, None, name=name, solver=CLIP_SOLVER, index=index, nprobe=nprobe, cache_dir=cache_dir,
                   backbone_spec=spec)

    # ------------------------------------------------------------------ what it is

    @property
    def backbone(self) -> dict:
        """Identity of the CLIP backbone (name, weights sha256, random_weights, caveat, embed_dim)."""
        return self._backbone.identity()

    @property
    def model(self) -> Reducer | None:
        """The fitted InDiReCT estimator (None for the CLIP space)."""
        return self._model

    @property
    def solver_name(self) -> str:
        """Display name of the solver, e.g. "InDiReCT (L-BFGS)", or "CLIP (no projection)"."""
        return "CLIP (no projection)" if self.solver == CLIP_SOLVER else display_name(self.solver)

    @property
    def prompts(self) -> list[str]:
        """The prompts the projection was fitted on (empty for the CLIP space)."""
        return [] if self._notion is None else self._notion.prompts

    @property
    def template(self) -> str | None:
        """The prompt template when the prompts came from template + words, else None."""
        return None if self._notion is None or self._notion.template == "{}" else self._notion.template

    @property
    def random_state(self) -> int | None:
        """The seed the projection was fitted with (None for the CLIP space)."""
        return None if self._model is None else self._model.random_state

    @property
    def n_components(self) -> int:
        """Dimension of the space (the backbone's width for the CLIP space)."""
        return int(self._embeddings.shape[1])

    @property
    def paths(self) -> list[str]:
        """Paths of the indexed images, resolved (absolute, symlinks followed: a file's identity), in index order."""
        return list(self._paths)

    @property
    def labels(self) -> pd.DataFrame:
        """Label columns of the indexed images (from a labelled dataset or CSV), one row per path; may be empty."""
        return self._labels.copy()

    @property
    def embeddings(self) -> np.ndarray:
        """(n_images, n_components) unit rows: the indexed images in this space (a read-only view)."""
        view = self._embeddings.view()
        view.flags.writeable = False
        return view

    @property
    def random_weights(self) -> bool:
        """True when the backbone has random weights: everything this space gives is a pipeline check."""
        return bool(self._backbone.random_weights)

    @property
    def caveat(self) -> str | None:
        """The backbone's caveat (``_util.caveats``) when it is a stand-in CLIP, else None."""
        return self._backbone.caveat

    def __len__(self) -> int:
        return len(self._paths)

    def info(self) -> dict:
        """What this space is: backbone, solver and seed, prompts, size, index (for ``space info`` and saving)."""
        record: dict[str, Any] = {
            "name": self.name, "solver": self.solver, "solver_name": self.solver_name,
            "random_state": self.random_state, "n_components": self.n_components,
            "model_options": {} if self._model is None else model_options_of(self._model.get_params()),
            "loss": None if self._model is None else float(self._model.loss_),
            "template": self.template,
            "word_source": None if self._notion is None else self._notion.word_source,
            "prompts": self.prompts, "backbone": self.backbone, "backbone_spec": self.backbone_spec,
            "n_images": len(self), "label_columns": list(self._labels.columns), "skipped": dict(self.skipped),
            "index": {"requested": self.index_kind, "nprobe": self.nprobe,
                      **(self._index.describe() if self._index is not None else {"kind": None})}}
        if self.caveat:
            record["warning"] = self.caveat
        return record

    def __repr__(self) -> str:
        fitted = "" if self._model is None else \
            f", solver {self.solver!r} ({self.solver_name}), seed {self.random_state}, {len(self.prompts)} prompts"
        weights = f" [{self.caveat}]" if self.caveat else ""
        return (f"Space({self.name!r}{fitted}, {self.n_components} dimensions, {len(self)} images, backbone "
                f"{self._backbone.name}){weights}")

    # ------------------------------------------------------------------ images

    def add_images(self, images: Any, *, cache_dir: str | Path | None = None, batch_size: int = 64,
                   num_workers: int = 0, progress: bool = True) -> "Space":
        """Embed, project and index images: a folder (images directly in it or nested), a CSV with a path
        column (other columns become labels), image files, a list of those, or a ``Dataset``. An image is its
        resolved path: one already indexed (by any path or symlink) is not added twice; unreadable images and
        the files a folder scan passes over are listed in ``skipped`` with their reason. Returns self.
        """
        for data, missing in image_collections(images):
            self.skipped.update(missing)
            self._add_dataset(data, cache_dir if cache_dir is not None else self.cache_dir, batch_size,
                              num_workers, progress)
        return self

    def _add_dataset(self, data: Dataset | None, cache_dir: str | Path | None, batch_size: int,
                     num_workers: int, progress: bool) -> None:
        if data is None:
            return
        for relative, reason in data.passed_over.items():
            self.skipped[str((data.root / relative).absolute())] = reason
        # An image is its resolved path: a symlink or another route (../photos/x.jpg) to an indexed file is that file.
        resolved = [identity_path(p) for p in data.image_paths]
        new: dict[str, int] = {}
        for i, path in enumerate(resolved):
            if path not in self._known and path not in new:
                new[path] = i
        if not new:
            return
        keep = list(new.values())
        data = data.subset(keep) if len(keep) < len(data) else data
        resolved = list(new)
        cached = image_features(self._backbone, data, cache_dir=cache_dir, batch_size=batch_size,
                                num_workers=num_workers, on_error="skip", progress=progress)
        of_relative = dict(zip(data.file_list(), resolved))
        for relative, reason in cached.skipped.items():
            self.skipped[of_relative.get(relative) or str((data.root / relative).absolute())] = reason
        paths = [resolved[i] for i in cached.kept]
        if not paths:
            return
        embeddings = self._embed(cached)
        labels = data.labels.iloc[cached.kept].reset_index(drop=True).astype(str)
        self._embeddings = np.concatenate([self._embeddings, embeddings])
        self._paths += paths
        self._known.update(paths)
        for path in paths:
            self.skipped.pop(path, None)
        self._labels = pd.concat([self._labels, labels], ignore_index=True).fillna("") if len(self._labels.columns) \
            or len(labels.columns) else pd.DataFrame(index=range(len(self._paths)))
        self._extend_index(embeddings)

    def _embed(self, features: Any) -> np.ndarray:
        """Unit rows of this space for raw CLIP features (cached ``ImageFeatures`` or a tensor)."""
        own = self._backbone.identity()
        other = getattr(features, "backbone", None)
        if isinstance(other, dict) and other.get("sha256") != own["sha256"]:
            raise ConfigError(f"these features come from backbone {other.get('name')} but space {self.name!r} "
                              f"uses {own['name']}: embed the images with the space's backbone")
        if self._model is None:
            raw = features.features if hasattr(features, "features") else features
            projected = l2_normalize(as_matrix(raw, "image_features"))
        else:
            projected = self._model.transform(features)
        return np.ascontiguousarray(projected.detach().cpu().numpy(), dtype=np.float32)

    def _extend_index(self, added: np.ndarray) -> None:
        """Add to the index, or build it again when the kind changes (auto crossing the size threshold) or an
        IVF index has outgrown the collection it was trained on."""
        kind = resolve_kind(self.index_kind, len(self))
        index = self._index
        if index is None or index.kind != kind or (kind == IVF and len(self) > REFIT_GROWTH * index.n_trained):
            self._index = make_index(self._embeddings, kind, nprobe=self.nprobe, seed=0)
        else:
            index.add(added)

    # ------------------------------------------------------------------ search

    def query_embedding(self, text: str | None = None, image: str | Path | None = None) -> np.ndarray:
        """The (1, n_components) unit row of a text query (its CLIP text feature projected with U) or of an
        image query (any readable image file, inside the index or not)."""
        if (text is None) == (image is None):
            raise ConfigError("give exactly one query: text='a red car' or image='photo.jpg'")
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"text query {text!r} must be a non-empty string, e.g. text='a red car'")
            return self._embed(self._backbone.encode_texts([text]))
        return self._embed(image_query_feature(self._backbone, image))

    def search(self, text: str | None = None, image: str | Path | None = None, k: int = 10) -> pd.DataFrame:
        """The k indexed images nearest to a text or image query: a DataFrame with columns ``rank`` (1 = best),
        ``path`` and ``score`` (cosine similarity in this space), best first."""
        k = check_k(k)
        query = self.query_embedding(text=text, image=image)
        return self.search_embedding(query, k)

    def search_embedding(self, query: np.ndarray, k: int = 10) -> pd.DataFrame:
        """``search`` for a query already in this space (``query_embedding``)."""
        k = check_k(k)
        if self._index is None or not len(self):
            raise ConfigError(f"space {self.name!r} has no images yet: call add_images(folder) first "
                              "(CLI: python -m indirect_core space add SPACE FOLDER)")
        scores, ids = self._index.search(query, k)
        return pd.DataFrame({"rank": np.arange(1, ids.shape[1] + 1), "path": [self._paths[i] for i in ids[0]],
                             "score": scores[0].astype(np.float64)})

    # ------------------------------------------------------------------ files

    def save(self, folder: str | Path) -> Path:
        """Write the space to ``folder`` (space.json, projection.pt, embeddings.npy, images.csv and, for IVF,
        index.faiss) atomically: everything goes to a temporary folder that then replaces ``folder``."""
        folder = Path(folder).expanduser().absolute()
        if folder.exists() and not (folder / SPACE_FILE).is_file() and (not folder.is_dir() or any(folder.iterdir())):
            raise ConfigError(f"{folder} exists and is not a saved space: choose a new or empty folder (a saved "
                              "space is only ever replaced by another one)")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        try:
            record = {"format": SPACE_FORMAT, **self.info()}
            if self._model is not None:
                save_projection(self._model, tmp / PROJECTION_FILE, prompts=self.prompts, backbone=self.backbone,
                                space=self.name, template=self.template)
            with atomic_path(tmp / EMBEDDINGS_FILE) as path, open(path, "wb") as handle:
                np.save(handle, self._embeddings)
            table = pd.concat([pd.DataFrame({"path": self._paths}), self._labels.reset_index(drop=True)], axis=1)
            write_text_atomic(tmp / IMAGES_FILE, table.to_csv(index=False))
            if isinstance(self._index, IVFIndex):
                with atomic_path(tmp / IVF_FILE) as path:
                    path.write_bytes(self._index.to_bytes())
            write_json_atomic(tmp / SPACE_FILE, record)
            replace_folder(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path, backbone: Backbone | str, *, cache_dir: str | Path | None = None,
             device: str = "cpu") -> "Space":
        """A space saved by ``save``; refused with a clear message when ``backbone`` (a Backbone or a spec)
        is not the one it was built with."""
        folder = Path(folder).expanduser().absolute()
        record = read_space_record(folder)
        if isinstance(backbone, str):  # refuse another backbone before building it (a large CLIP takes a while)
            name, weights = spec_weights(backbone, Path(cache_dir) if cache_dir else None)
            check_backbone(folder, record, name, sha256_file(weights) if weights is not None else None)
        bb, spec = resolve_backbone(backbone, cache_dir, device)
        check_backbone(folder, record, bb.name, bb.weights_sha256)
        model, notion = None, None
        if record["solver"] != CLIP_SOLVER:
            model, projection = load_projection(folder / PROJECTION_FILE, bb)
            template = record.get("template")
            notion = Notion(record["name"], COLLECTION, record["name"], template or "{}",
                            words_of(projection["prompts"], template),
                            word_source=record.get("word_source") or "given words")
        space = cls(bb, model, notion, name=record["name"], solver=record["solver"],
                    index=record["index"]["requested"], nprobe=record["index"]["nprobe"], cache_dir=cache_dir,
                    backbone_spec=record.get("backbone_spec") or spec)
        try:
            embeddings = np.load(folder / EMBEDDINGS_FILE, allow_pickle=False)
            table = pd.read_csv(folder / IMAGES_FILE, dtype=str, keep_default_na=False)
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise DatasetError(f"space {folder} is damaged ({error}): save it again") from None
        if embeddings.shape != (record["n_images"], space._embeddings.shape[1]) or len(table) != record["n_images"]:
            raise DatasetError(f"space {folder} is damaged: {SPACE_FILE} lists {record['n_images']} images but "
                               f"{EMBEDDINGS_FILE} has shape {embeddings.shape} and {IMAGES_FILE} {len(table)} rows: "
                               "save it again")
        space._embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        space._paths = table["path"].tolist()
        space._known = set(space._paths)
        space._labels = table.drop(columns=["path"])
        space.skipped = dict(record.get("skipped", {}))
        if len(space):
            index = record["index"]
            if index.get("kind") == IVF and (folder / IVF_FILE).is_file():
                space._index = IVFIndex.from_bytes((folder / IVF_FILE).read_bytes(), nprobe=space.nprobe,
                                                   seed=index.get("seed", 0), n_trained=index.get("n_trained", 0))
            else:
                space._index = make_index(space._embeddings, index.get("kind") or AUTO, nprobe=space.nprobe)
        return space


# ---------------------------------------------------------------------- several spaces


def notion_spaces(backbone: Backbone | str, notions: Iterable[Notion], images: Any = None, *, clip: bool = True,
                  n_components: int = 128, solver: str = DEFAULT_SOLVER, random_state: int | None = 0,
                  model_options: Mapping[str, Any] | None = None, index: str = AUTO,
                  cache_dir: str | Path | None = None, device: str = "cpu", progress: bool = True) -> dict[str, Space]:
    """"CLIP" (when ``clip``) plus one space per notion, all over the same ``images`` (added once each; the
    features come from one shared cache), to compare notions side by side."""
    bb, _ = resolve_backbone(backbone, cache_dir, device)
    spaces: dict[str, Space] = {"CLIP": Space.clip(bb, index=index, cache_dir=cache_dir)} if clip else {}
    for notion in notions:
        if notion.name in spaces:
            raise ConfigError(f"two spaces are named {notion.name!r}: give each notion its own name")
        spaces[notion.name] = Space.from_prompts(bb, notion, n_components=n_components, solver=solver,
                                                 random_state=random_state, model_options=model_options,
                                                 index=index, cache_dir=cache_dir)
    if images is not None:
        for space in spaces.values():
            space.add_images(images, progress=progress)
    return spaces


def search_spaces(spaces: Mapping[str, Space], text: str | None = None, image: str | Path | None = None,
                  k: int = 10) -> dict[str, pd.DataFrame]:
    """The same query in every space: space name -> its ``search`` result."""
    return {name: space.search(text=text, image=image, k=k) for name, space in spaces.items()}


def model_options_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The solver's options as a space shows them: without n_components and the seed (shown on their own) and
    without ``progress`` (how a fit reports, not what it computes)."""
    return {k: v for k, v in params.items() if k not in NOT_MODEL_OPTIONS}
