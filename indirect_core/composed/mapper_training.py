"""One call that trains either mapper from a named data source: what notebook 06 runs.

Pic2Word gets the source's images through the embedding cache (raw ``encode_image`` features, computed once);
LinCIR gets its captions. The run's checkpoint lives at ``<output_dir>/checkpoint.pt``, so calling it again with
the same arguments resumes an interrupted run (or returns a finished one at once); ``resume=False`` over it
needs ``overwrite=True`` and replaces it only once the new run finishes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..backbone import Backbone
from ..features.cache import image_features
from .._util.errors import ConfigError
from .._util.validation import check_options
from .train_lincir import train_lincir
from .train_pic2word import train_pic2word
from .training import TrainingResult
from .training_data import SYNTHETIC_TRAIN, training_captions, training_images

CHECKPOINT_NAME = "checkpoint.pt"
"""The training checkpoint (published format + resume state) in a run's output folder."""
MAPPER_NAME = "mapper.pt"
"""The finished mapper (published format + our metadata, no resume state) in a run's output folder."""


def train_mapper(method: str, backbone: Backbone, data: str = SYNTHETIC_TRAIN,
                 output_dir: str | Path | None = None, data_root: str | Path | None = None,
                 data_options: dict | None = None, caption_column: str = "caption", max_captions: int | None = None,
                 cache_dir: str | Path | None = None, progress: bool = True, **options: Any) -> TrainingResult:
    """Train ``method`` ("pic2word" or "lincir") on the training data source ``data`` (see ``training_data`` for
    the sources); ``options`` go to ``train_pic2word`` / ``train_lincir`` (steps, batch_size, lr, seed,
    checkpoint_every, ...)."""
    checkpoint = Path(output_dir) / CHECKPOINT_NAME if output_dir is not None else None
    if method in TRAINERS:
        check_options(f"{method} training", TRAINERS[method], options, set_by_caller=_SET_HERE)
    if method == "pic2word":
        dataset = training_images(data, data_root, data_options)
        cached = image_features(backbone, dataset, cache_dir=cache_dir, progress=progress)
        return train_pic2word(backbone, cached.features, checkpoint_path=checkpoint, progress=progress, **options)
    if method == "lincir":
        captions = training_captions(data, caption_column, data_root, data_options, max_captions)
        return train_lincir(backbone, captions, cache_dir=cache_dir, checkpoint_path=checkpoint, progress=progress,
                            **options)
    raise ConfigError(f"parameter method={method!r} must be 'pic2word' or 'lincir'")


TRAINERS: dict[str, Callable[..., TrainingResult]] = {"pic2word": train_pic2word, "lincir": train_lincir}
"""The trainer of each method."""
_SET_HERE = {"backbone", "image_features", "captions", "checkpoint_path", "progress", "cache_dir"}


