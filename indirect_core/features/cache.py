"""Embedding cache: CLIP image features per (backbone identity, dataset identity, file list), in atomic shards.

Layout: ``<cache_dir>/features/<backbone key>/<dataset name>-<file-list hash>/shard-NNNNN-<shard key>.pt``
plus ``manifest.json``. Each shard is written atomically, so a run killed at any moment resumes without
redoing finished shards; batches never cross a shard, so a resumed run ends with identical features.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._util.atomic import atomic_path, write_json_atomic
from ..backbone import Backbone, default_cache_dir
from ..data.datasets import Dataset
from .._util.caveats import caveat_of
from .._util.errors import BackboneError, ConfigError, DatasetError
from .._util.validation import check_int
from .._util.progress import progress_bar
from .._util.torch_files import error_summary
from ..engines import Engine, TaskFailed, check_engine_name, get_engine

CACHE_FORMAT = 1
DEFAULT_SHARD_SIZE = 512
SHARD_RETRIES = 3
"""Times a parallel engine (Ray) re-runs a shard task whose worker died (a crashed process, a lost node)."""
THREADS_PER_SHARD = 1
"""CPU threads (and Ray CPUs) of one shard task of a parallel engine: one task per core, each on its own."""


@dataclass
class ImageFeatures:
    """Cached features of a dataset's readable images and the record of the skipped ones."""

    features: torch.Tensor              # (n_kept, d) raw CLIP image features, float32
    kept: np.ndarray                    # indices into the dataset of the rows of ``features``
    skipped: dict[str, str]             # relative path -> why it is left out: unreadable images and the
                                        # files the dataset's folder scan passed over (``Dataset.passed_over``)
    location: Path
    backbone: dict = field(repr=False)
    dataset: dict = field(repr=False)

    def apply_to(self, dataset: Dataset) -> Dataset:
        """The dataset restricted to the images that have features (labels follow)."""
        return dataset.subset(self.kept) if len(self.kept) < len(dataset) else dataset


def describe(cached: ImageFeatures) -> dict:
    """The cache's identity for display and provenance: backbone hash, image counts, location."""
    record = {"backbone": cached.backbone["name"], "backbone_sha256": cached.backbone["sha256"],
              "random_weights": bool(cached.backbone.get("random_weights")), "caveat": caveat_of(cached.backbone),
              "dataset": cached.dataset["name"],
              "n_images": int(cached.dataset["n_images"]), "n_features": int(len(cached.features)),
              "feature_dim": int(cached.features.shape[1]) if cached.features.ndim == 2 else 0,
              "n_skipped": len(cached.skipped), "location": str(cached.location)}
    if caveat_of(cached.backbone):
        record["warning"] = caveat_of(cached.backbone)
    return record


def cache_folder(backbone: Backbone, dataset: Dataset, cache_dir: Path | str | None = None) -> Path:
    """Where the features of this backbone on this dataset's file list live."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    # The folder follows the list of files; each shard's key follows its files' sizes and modification times,
    # so an edited image invalidates only its own shard.
    files_hash = hashlib.sha256("\n".join(dataset.file_list()).encode()).hexdigest()[:16]
    return root / "features" / backbone.key / f"{dataset.name}-{files_hash}"


def image_features(backbone: Backbone, dataset: Dataset, cache_dir: Path | str | None = None,
                   batch_size: int = 64, num_workers: int = 0, on_error: str = "raise",
                   shard_size: int = DEFAULT_SHARD_SIZE, progress: bool = True,
                   executor: str = "local") -> ImageFeatures:
    """Features for every image of ``dataset``, computed once and then read from the cache.

    ``on_error="skip"`` leaves unreadable images out and records them in the manifest (with the files the
    dataset's folder scan passed over, which are listed whatever ``on_error`` is); apply
    ``result.apply_to(dataset)`` so the labels match the feature rows. ``executor="ray"`` computes each missing
    shard as a Ray task (``indirect_core.ray_engine``): same shard files, same features.
    """
    check_int("shard_size", shard_size)
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error={on_error!r} is not allowed: use 'raise' or 'skip'")
    check_engine_name(executor)
    folder = cache_folder(backbone, dataset, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    relative = dataset.file_list()
    shards = [range(i, min(i + shard_size, len(relative))) for i in range(0, len(relative), shard_size)]
    names = [_shard_name(number, _shard_key(dataset, shard)) for number, shard in enumerate(shards)]
    missing = [number for number, name in enumerate(names) if not (folder / name).is_file()]
    _remove_stale_shards(folder, set(names))

    if missing:
        done = len(relative) - sum(len(shards[n]) for n in missing)
        bar = progress_bar(total=len(relative), initial=done, unit="img", disable=not progress,
                   desc=f"caching {dataset.name} with {backbone.name}")
        with bar:
            _fill_shards(get_engine(executor), backbone, dataset, folder, shards, names, missing, batch_size,
                         num_workers, on_error, bar.update)

    features, kept, skipped = [], [], dict(dataset.passed_over)
    for number, name in enumerate(names):
        shard = _read_shard(folder / name)
        if shard["skipped"] and on_error == "raise":
            path, reason = next(iter(shard["skipped"].items()))
            raise DatasetError(f"cannot read image {dataset.root / path}: {reason} (recorded by an earlier run "
                               f"with on_error='skip' in {folder}). Fix the file or pass on_error='skip'")
        features.append(shard["features"])
        kept.append(np.asarray(shard["kept"], dtype=np.int64) + shards[number].start)
        skipped.update(shard["skipped"])
    result = ImageFeatures(
        features=torch.cat(features) if features else torch.empty(0, backbone.embed_dim),
        kept=np.concatenate(kept) if kept else np.empty(0, dtype=np.int64), skipped=skipped,
        location=folder, backbone=backbone.identity(), dataset=dataset.identity())
    _write_manifest(folder, result, shard_size, names)
    return result


def _fill_shards(engine: Engine, backbone: Backbone, dataset: Dataset, folder: Path, shards: list[range],
                 names: list[str], missing: list[int], batch_size: int, num_workers: int, on_error: str,
                 progress: Callable[[int], Any]) -> None:
    """Compute the ``missing`` shards on ``engine``: in-process all through one DataLoader; on a parallel engine
    (Ray) one task per shard, each loading the same backbone (checked by sha256) and writing the same atomic
    shard file. The first project error of a task is raised as it is locally."""
    if not engine.parallel:
        tasks = [(backbone, dataset, folder, shards, names, missing, batch_size, num_workers, on_error)]
        resources = None
    else:
        recipe = backbone_recipe(backbone)
        tasks = [(recipe, _shard_dataset(dataset, shards[number]), Path(folder).resolve(), [range(len(shards[number]))],
                  [names[number]], [0], batch_size, num_workers, on_error, THREADS_PER_SHARD) for number in missing]
        resources = {"num_gpus": 1, "num_cpus": 1} if backbone.device.type == "cuda" else {"num_cpus": THREADS_PER_SHARD}
    try:
        for _ in engine.map(_compute_shards, tasks, resources=resources, retries=SHARD_RETRIES, progress=progress):
            pass
    except TaskFailed as failure:
        number = missing[failure.number] if engine.parallel else missing[0]
        if failure.lost:
            raise DatasetError(f"caching shard {number} of {dataset.name} on {engine.name} lost its worker "
                               f"{SHARD_RETRIES + 1} times ({failure.detail}); finished shards are kept: run again "
                               "to resume") from None
        raise DatasetError(f"caching shard {number} of {dataset.name} on {engine.name} failed: {failure.detail}") \
            from None


def backbone_recipe(backbone: Backbone) -> dict:
    """What a worker needs to load the same backbone: its weights file, name, sha256 and device type."""
    return {"path": str(Path(backbone.weights_path).resolve()), "name": backbone.name,
            "sha256": backbone.weights_sha256, "device": backbone.device.type}


_WORKER_BACKBONES: dict[tuple[str, str, str], Backbone] = {}  # per worker process: the backbone of its tasks


def worker_backbone(recipe: dict) -> Backbone:
    """The backbone of ``recipe``, loaded once per worker process and checked to have the driver's sha256.

    The weights file is read at the driver's path (a shared folder); where it is missing, a CLIP name or a
    random architecture is loaded the ordinary way on this node. Either way the hash must match.
    """
    import socket
    import warnings

    import clip

    from ..backbone import RANDOM_ARCHITECTURES, load_backbone

    key = (recipe["path"], recipe["sha256"], recipe["device"])
    if key in _WORKER_BACKBONES:
        return _WORKER_BACKBONES[key]
    path = Path(recipe["path"])
    if path.is_file():
        spec = str(path)
    elif recipe["name"] in RANDOM_ARCHITECTURES or recipe["name"] in clip.available_models():
        spec = recipe["name"]
    else:
        raise BackboneError(f"backbone weights {path} are not visible on node {socket.gethostname()}: put them on a "
                            "path every node sees (docs/CLUSTER.md)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = load_backbone(spec, device=recipe["device"])
    if backbone.weights_sha256 != recipe["sha256"]:
        raise BackboneError(f"node {socket.gethostname()} loaded backbone {spec} with sha256 "
                            f"{backbone.weights_sha256[:16]}..., not the driver's {recipe['sha256'][:16]}...: give "
                            "every node the same weights file (a shared path, see docs/CLUSTER.md)")
    _WORKER_BACKBONES.clear()  # one model per worker process
    _WORKER_BACKBONES[key] = backbone
    return backbone


def _shard_dataset(dataset: Dataset, shard: range) -> Dataset:
    """One shard's images as a small dataset with absolute paths, so a worker anywhere finds them and names
    them (relative to the same root) exactly as the driver does."""
    import pandas as pd

    return Dataset(name=dataset.name, root=Path(dataset.root).absolute(),
                   image_paths=tuple(Path(dataset.image_paths[i]).absolute() for i in shard),
                   labels=pd.DataFrame(index=range(len(shard))))


def _compute_shards(backbone: Backbone | dict, dataset: Dataset, folder: Path, shards: list[range], names: list[str],
                    missing: list[int], batch_size: int, num_workers: int, on_error: str, threads: int | None = None,
                    progress: Callable[[int], Any] | None = None) -> int:
    """Run the missing shards through one DataLoader whose batches stay inside a shard; save each when full.

    ``backbone`` may be a recipe (a worker loads it, see :func:`worker_backbone`); ``threads`` pins torch's
    thread count (a worker's task); ``progress`` is called with each batch's size. Returns the images done.
    """
    if isinstance(backbone, dict):
        backbone = worker_backbone(backbone)
    if threads is not None:
        torch.set_num_threads(threads)
    batches, owner = [], []
    for number in missing:
        shard = shards[number]
        for start in range(shard.start, shard.stop, batch_size):
            batches.append(list(range(start, min(start + batch_size, shard.stop))))
            owner.append(number)
    remaining = {number: len(shards[number]) for number in missing}
    pending: dict[int, dict] = {number: {"features": [], "kept": [], "skipped": {}} for number in missing}
    paths = list(dataset.image_paths)
    relative = dataset.file_list()
    stream = backbone.iter_image_batches(paths, batch_size=batch_size, num_workers=num_workers,
                                         on_error=on_error, progress=False, batches=batches)
    for batch, number, (good, features, failures) in zip(batches, owner, stream):
        part = pending[number]
        part["features"].append(features)
        part["kept"].extend(int(i) - shards[number].start for i in good)
        part["skipped"].update({relative[i]: reason for i, reason in failures.items()})
        remaining[number] -= len(batch)
        if progress is not None:
            progress(len(batch))
        if remaining[number] == 0:
            shard = pending.pop(number)
            with atomic_path(folder / names[number]) as tmp:
                torch.save({"format": CACHE_FORMAT,
                            "features": torch.cat(shard["features"]) if shard["features"]
                            else torch.empty(0, backbone.embed_dim),
                            "kept": shard["kept"], "skipped": shard["skipped"]}, tmp)
    return sum(len(shards[number]) for number in missing)


def _shard_key(dataset: Dataset, shard: range) -> str:
    """Hash of the shard's files (relative path, size, modification time): a changed file invalidates its shard."""
    digest = hashlib.sha256(f"format={CACHE_FORMAT};start={shard.start}".encode())
    relative = dataset.file_list()
    for index in shard:
        stat = Path(dataset.image_paths[index]).stat() if Path(dataset.image_paths[index]).exists() else None
        stamp = f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "missing"
        digest.update(f"\n{relative[index]}\t{stamp}".encode())
    return digest.hexdigest()[:16]


def _shard_name(number: int, key: str) -> str:
    return f"shard-{number:05d}-{key}.pt"


def _read_shard(path: Path) -> dict:
    """Load one shard; a corrupt file is removed with a message saying a rerun recomputes it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        path.unlink(missing_ok=True)
        raise DatasetError(f"cache shard {path} was unreadable ({error_summary(error)}) and has been removed: run "
                           "again to recompute it") from None


def _remove_stale_shards(folder: Path, current: set[str]) -> None:
    """Delete shards of older file versions (their keys no longer match) and orphaned temp files."""
    for path in folder.glob("shard-*.pt"):
        if path.name not in current:
            path.unlink(missing_ok=True)
    for path in folder.glob(".shard-*.tmp"):
        if time.time() - path.stat().st_mtime > 60:  # a temp file of a killed run
            path.unlink(missing_ok=True)


def _write_manifest(folder: Path, result: ImageFeatures, shard_size: int, names: Sequence[str]) -> None:
    """Record what the cache holds: identities, skipped files, shards."""
    manifest = {"format": CACHE_FORMAT, "backbone": result.backbone, "dataset": result.dataset,
                "n_images": int(result.dataset["n_images"]), "n_features": int(len(result.features)),
                "skipped": result.skipped, "shard_size": shard_size, "shards": list(names)}
    if caveat_of(result.backbone):
        manifest["warning"] = caveat_of(result.backbone)
    path = folder / "manifest.json"
    if path.is_file():
        try:
            if json.loads(path.read_text()) == json.loads(json.dumps(manifest, default=str)):
                return
        except (OSError, json.JSONDecodeError):
            pass
    write_json_atomic(path, manifest)
