"""indirect_core: language-guided zero-shot image retrieval with InDiReCT on CLIP features.

A small public surface, like ``clip``'s: load a backbone, embed prompts and images, fit InDiReCT on the
prompts, transform the images, evaluate with the paper's metrics; or hold a ``Space`` (prompts + projection +
an index of your images) and search it by text or image.
"""
from . import atomic, cache, naming, neighbours, notebook, notions, parameters, projections, provenance, study, tables
from .backbone import Backbone, load_backbone
from .random_weights import RANDOM_WEIGHTS_MARKER
from .cache import ImageFeatures, image_features
from .datasets import Dataset, available_datasets, load_dataset
from .errors import BackboneError, ConfigError, DatasetError, IndirectError, NotApplicableError
from .experiment import run_notion, summarize
from .metrics import METRICS, SHORT_NAMES, evaluate
from .models import (MODELS, PCA, Autoencoder, CLIPFeatures, InDiReCT, InDiReCTLBFGS, LinearAutoencoder, Oracle,
                     RandomEmbedding, RandomTransform, make_model)
from .notions import Notion, get_notion, notions_for
from . import index, space
from .space import Space

__version__ = "0.1.0"

__all__ = [
    "RANDOM_WEIGHTS_MARKER", "Backbone", "load_backbone", "ImageFeatures", "image_features", "Dataset",
    "available_datasets", "load_dataset", "BackboneError", "ConfigError", "DatasetError", "IndirectError",
    "NotApplicableError", "run_notion", "summarize", "METRICS", "SHORT_NAMES", "evaluate", "MODELS", "PCA",
    "Autoencoder", "CLIPFeatures", "InDiReCT", "InDiReCTLBFGS", "LinearAutoencoder", "Oracle", "RandomEmbedding",
    "RandomTransform", "make_model", "Notion", "get_notion", "notions_for", "Space",
]
