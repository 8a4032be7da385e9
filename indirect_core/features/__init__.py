"""The features layer: CLIP image features computed once per backbone and file list, in atomic shards, on any
engine. May import: ``_util``, ``engines``, ``backbone``, ``data``."""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=["cache"])
