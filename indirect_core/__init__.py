"""indirect_core: language-guided zero-shot image retrieval with InDiReCT on CLIP features.

A small public surface, like ``clip``'s: load a backbone, embed prompts and images, fit InDiReCT on the
prompts, transform the images, evaluate with the paper's metrics; or hold a ``Space`` (prompts + projection +
an index of your images) and search it by text or image, or several at once with ``search_composed`` (keep what a
reference image shows in some notions, change others by words). Names and subpackages load on first use, so
``import indirect_core`` does not import torch. The layers, each a subpackage importing only those below it:
``_util`` → ``engines`` → ``backbone`` → ``data`` → ``features`` → ``core`` → ``analysis`` | ``composed`` →
``report`` → ``shapes_clip`` → ``batch`` → ``apps``.
"""
import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["analysis", "apps", "backbone", "batch", "composed", "core", "data", "engines", "features", "report", "shapes_clip"],
    submod_attrs={
        "backbone": ["Backbone", "load_backbone"],
        "features.cache": ["image_features"],
        "data.datasets": ["load_dataset"],
        "data.notions": ["get_notion"],
        "core.models": ["InDiReCT", "InDiReCTLBFGS", "make_model"],
        "core.metrics": ["evaluate"],
        "apps.space": ["Space"],
        "apps.composed_search": ["search_composed"],
        "_util.errors": ["IndirectError", "ConfigError", "BackboneError", "DatasetError", "NotApplicableError"],
    })
