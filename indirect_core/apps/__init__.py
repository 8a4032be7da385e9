"""The apps layer: what a user holds and runs. ``Space`` (prompts + projection + an index of your images), the
command line and the explorer. May import every layer below."""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__, submodules=["cli", "composed_search", "explorer", "space", "space_cli", "space_folder", "space_inputs"],
    submod_attrs={"space": ["Space"], "composed_search": ["search_composed"]})
