"""The data layer: datasets (image paths + labels), the generated ones (synthetic shapes, the example
collection), notions (a label column + prompt template + words) and the shipped prompt word lists.

May import: ``_util``, ``backbone``.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "css_colours", "datasets", "example_collection", "generated", "notions", "prompt_words", "synthetic_shapes"])
