"""Zero-shot classification with the synthetic-shapes notions' own prompts: what shapes-clip's card reports."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .._util.errors import ConfigError
from ..backbone import Backbone
from ..data.notions import get_notion

FACTOR_NOTIONS: dict[str, str] = {"shape": "shape", "object_colour": "object colour",
                                  "background_colour": "background colour"}
"""The synthetic-shapes notions by their label columns: the factors the card reports zero-shot accuracy for."""
EVALUATION_SEEDS: dict[str, int] = {"synthetic-shapes": 0, "synthetic-shapes-cir": 0, "example collection": 0}
"""The seeds the project's evaluation splits are generated from (their loaders' defaults); a held-out split must
use another."""
HELD_OUT_SEED = 90_210
HELD_OUT_IMAGES = 1000


def held_out_split(n_images: int = HELD_OUT_IMAGES, seed: int = HELD_OUT_SEED, root: str | None = None,
                   progress: bool = False):
    """A synthetic-shapes split no evaluation uses (a ``Dataset``, generated on first use like synthetic-shapes)."""
    from ..data.datasets import load_dataset

    if seed in EVALUATION_SEEDS.values():
        raise ConfigError(f"seed={seed} is the seed of an evaluation split ({EVALUATION_SEEDS}): pick another")
    return load_dataset("synthetic-shapes", root=root, n_images=n_images, seed=seed, progress=progress)


def zero_shot_accuracy(image_features: torch.Tensor, labels: Sequence[str], words: Sequence[str],
                       text_features: torch.Tensor) -> dict:
    """Top-1 accuracy of (n, d) image features against one prompt per word (``text_features`` rows in ``words``
    order): among the words that occur as labels (``accuracy``) and among all words (``accuracy_all_words``)."""
    labels = np.asarray(labels, dtype=str)
    words = list(words)
    missing = sorted(set(labels) - set(words))
    if missing:
        raise ConfigError(f"labels {missing[:5]} are not among the prompt words: zero-shot accuracy needs a prompt "
                          "for every label")
    present = [i for i, w in enumerate(words) if w in set(labels)]
    scores = (F.normalize(image_features.float(), dim=1) @ F.normalize(text_features.float(), dim=1).T).numpy()
    word_array = np.asarray(words)
    among_present = word_array[np.asarray(present)[scores[:, present].argmax(axis=1)]]
    among_all = word_array[scores.argmax(axis=1)]
    return {"accuracy": float(np.mean(among_present == labels)),
            "accuracy_all_words": float(np.mean(among_all == labels)),
            "n_classes": len(present), "n_words": len(words), "n_images": len(labels)}


def zero_shot_by_notion(image_features: torch.Tensor, labels: dict[str, Sequence[str]],
                        encode_texts: Callable[[list[str]], torch.Tensor]) -> dict:
    """{notion: accuracy record with its template}: each synthetic-shapes notion's template over its words."""
    results = {}
    for column, name in FACTOR_NOTIONS.items():
        notion = get_notion("synthetic-shapes", name)
        words = list(dict.fromkeys(notion.words))
        text = encode_texts([notion.template.format(w) for w in words])
        results[name] = {"template": notion.template, **zero_shot_accuracy(image_features, labels[column], words, text)}
    return results


def evaluate_zero_shot(backbone: Backbone, dataset=None, batch_size: int = 100, progress: bool = False) -> dict:
    """Zero-shot top-1 accuracy of ``backbone`` on a synthetic-shapes split (default: the held-out split) for the
    three notions with their own templates and words: {notion: {accuracy, accuracy_all_words, ...}}."""
    dataset = held_out_split(progress=progress) if dataset is None else dataset
    labels = {column: dataset.labels[column].astype(str).tolist() for column in FACTOR_NOTIONS}
    features = backbone.encode_images(dataset.image_paths, batch_size=batch_size, progress=progress)
    return zero_shot_by_notion(features, labels, backbone.encode_texts)
