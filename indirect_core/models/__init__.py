"""InDiReCT and the paper's baselines as interchangeable sklearn-style estimators, plus a registry by key."""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ._base import Reducer, l2_normalize
from .baselines import PCA, Autoencoder, CLIPFeatures, LinearAutoencoder, Oracle, RandomEmbedding, RandomTransform
from .indirect import InDiReCT, acos_safe, indirect_loss

# Keys in the paper's plot order: Random, CLIP, InDiReCT, Rand. trans., PCA, LAE, AE, Oracle.
MODELS: dict[str, type[Reducer]] = {
    "random": RandomEmbedding,
    "clip": CLIPFeatures,
    "indirect": InDiReCT,
    "randtransform": RandomTransform,
    "pca": PCA,
    "lae": LinearAutoencoder,
    "ae": Autoencoder,
    "oracle": Oracle,
}


def make_model(key: str, n_components: int = 128, random_state: int | None = 0, **options: Any) -> Reducer:
    """Instantiate a model by key with its options (e.g. ``normalize=True`` for the CLIP baseline)."""
    if key not in MODELS:
        raise ConfigError(f"unknown model {key!r}: use one of {list(MODELS)}")
    try:
        return MODELS[key](n_components=n_components, random_state=random_state, **options)
    except TypeError as error:
        raise ConfigError(f"bad options {options} for model {key!r}: {error}") from None


def display_name(key: str) -> str:
    """The paper's column name of a model key."""
    if key not in MODELS:
        raise ConfigError(f"unknown model {key!r}: use one of {list(MODELS)}")
    return MODELS[key].display_name


__all__ = ["MODELS", "make_model", "display_name", "Reducer", "InDiReCT", "RandomEmbedding", "CLIPFeatures",
           "RandomTransform", "PCA", "LinearAutoencoder", "Autoencoder", "Oracle", "acos_safe",
           "indirect_loss", "l2_normalize"]
