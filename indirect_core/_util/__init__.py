"""The utility layer: errors, atomic writes, names, progress bars, reading torch files, the random-weights
marker. Imports nothing of the package; everything else may import it."""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, submodules=[
    "atomic", "caveats", "errors", "labels", "naming", "progress", "torch_files", "validation",
    "worker_warnings"])
