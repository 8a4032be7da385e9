"""Progress bars: the one place that decides how long-running work reports its progress."""
from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm


def progress_bar(**options: Any) -> tqdm:
    """A tqdm bar (widget in JupyterLab, text elsewhere); ``disable=True`` makes it silent."""
    return tqdm(**options)
