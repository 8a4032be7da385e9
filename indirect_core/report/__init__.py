"""The report layer: what a reader sees. Figures, result tables, what executed notebooks display, the run's
index page and the browser check of its pages.

May import: ``analysis``, ``composed`` and everything below them.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "composed", "notebook", "page_check", "plots", "results", "run_index", "tables"])
