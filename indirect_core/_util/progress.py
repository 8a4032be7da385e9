"""Progress bars: the one place that decides how long-running work reports its progress.

Three modes, chosen by ``$INDIRECT_PROGRESS``:
- ``auto`` (default): tqdm's choice, a widget bar in JupyterLab (with ipywidgets) and a text bar in a terminal;
- ``final``: one line per bar, written to standard output when it ends (the batch runner sets this for papermill
  kernels, whose stored outputs would otherwise keep every refresh of a text bar as a line of its own; on
  stderr a page would show each line in the box it gives errors);
- ``off``: no bars.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any, Iterable

from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm as auto_tqdm

PROGRESS_ENV = "INDIRECT_PROGRESS"
MODES = ("auto", "final", "off")


def progress_mode() -> str:
    """The mode from ``$INDIRECT_PROGRESS`` (unknown values mean ``auto``)."""
    mode = os.environ.get(PROGRESS_ENV, "auto").strip().lower()
    return mode if mode in MODES else "auto"


class FinalLineBar(text_tqdm):
    """A tqdm bar that draws nothing while it runs and one summary line, on standard output, when it closes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["delay"] = math.inf  # never drawn while running
        kwargs.setdefault("file", sys.stdout)  # a progress line is output, not an error
        self._summarised = False
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        if not self._summarised and not self.disable:
            self._summarised = True
            self.fp.write(self.format_meter(**self.format_dict) + "\n")
            self.fp.flush()
        super().close()


def progress_bar(iterable: Iterable | None = None, **options: Any) -> text_tqdm:
    """A progress bar in the current mode; takes tqdm's arguments (``disable=True`` silences it)."""
    mode = progress_mode()
    if mode == "off":
        options["disable"] = True
    if mode == "final":
        return FinalLineBar(iterable, **options)
    return auto_tqdm(iterable, **options)
