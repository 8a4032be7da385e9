"""The analysis layer: experiments over notions × models × seeds, one dataset's study, the paper's explainer
(attribution), provenance records.

May import everything below it: ``core``, ``features``, ``data``, ``backbone``, ``engines``, ``_util``; not
``composed`` (a sibling) nor anything above.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "attribution", "cross_notion", "experiment", "provenance", "study"])
