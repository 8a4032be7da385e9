"""The core layer: the method and its measures. InDiReCT and the baselines (scikit-learn transformers), saved
projections, the paper's metrics, nearest-neighbour search (exact and IVF) and the one top-k they choose results with.

May import: ``_util``, ``engines``, ``backbone``, ``data``, ``features``.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "index", "metrics", "models", "neighbours", "projections", "search"])
