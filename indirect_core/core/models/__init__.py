"""InDiReCT and the paper's baselines as interchangeable scikit-learn estimators, plus a registry by key."""
from __future__ import annotations

from typing import Any

from ..._util.errors import ConfigError
from ..._util.validation import check_options
from ._base import NotFittedModelError, Reducer, l2_normalize
from .baselines import PCA, Autoencoder, CLIPFeatures, LinearAutoencoder, Oracle, RandomEmbedding, RandomTransform
from .indirect import InDiReCT, InDiReCTLBFGS, acos_safe, indirect_loss

# Keys in the paper's plot order (Random, CLIP, InDiReCT, Rand. trans., PCA, LAE, AE, Oracle), with our
# L-BFGS solver for InDiReCT's objective right after the authors' procedure.
MODELS: dict[str, type[Reducer]] = {
    "random": RandomEmbedding,
    "clip": CLIPFeatures,
    "indirect": InDiReCT,
    "indirect-lbfgs": InDiReCTLBFGS,
    "randtransform": RandomTransform,
    "pca": PCA,
    "lae": LinearAutoencoder,
    "ae": Autoencoder,
    "oracle": Oracle,
}

PAPER_MODELS: tuple[str, ...] = ("random", "clip", "indirect", "randtransform", "pca", "lae", "ae", "oracle")
"""The paper's eight models (the authors' procedures)."""

INDIRECT_KEYS: tuple[str, ...] = ("indirect", "indirect-lbfgs")
"""The model keys of InDiReCT's objective, one per solver: "indirect" is the authors' Adam procedure (first),
"indirect-lbfgs" our L-BFGS solver. A space's ``solver`` is one of them."""


def make_model(key: str, n_components: int = 128, random_state: int | None = 0, **options: Any) -> Reducer:
    """Instantiate a model by key with its options (e.g. ``normalize=True`` for the CLIP baseline)."""
    if key not in MODELS:
        raise ConfigError(f"unknown model {key!r}: use one of {list(MODELS)}")
    cls = MODELS[key]
    check_options(f"model {key!r} ({cls.__name__})", cls, options, set_by_caller=("n_components", "random_state"))
    return cls(n_components=n_components, random_state=random_state, **options)


def display_name(key: str) -> str:
    """The paper's column name of a model key."""
    if key not in MODELS:
        raise ConfigError(f"unknown model {key!r}: use one of {list(MODELS)}")
    return MODELS[key].display_name


def model_key(model: Reducer) -> str:
    """The registry key of a model instance (e.g. "indirect-lbfgs" for an InDiReCTLBFGS)."""
    for key, cls in MODELS.items():
        if type(model) is cls:
            return key
    raise ConfigError(f"{type(model).__name__} is not a registered model: use one of {list(MODELS)}")


__all__ = ["MODELS", "PAPER_MODELS", "INDIRECT_KEYS", "make_model", "display_name", "model_key", "Reducer",
           "NotFittedModelError",
           "InDiReCT", "InDiReCTLBFGS", "RandomEmbedding", "CLIPFeatures", "RandomTransform", "PCA",
           "LinearAutoencoder", "Autoencoder", "Oracle", "acos_safe", "indirect_loss", "l2_normalize"]
