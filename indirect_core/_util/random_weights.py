"""The random-weights marker: every output made with a randomly initialised CLIP carries it.

Kept in a module of its own (no torch, no clip) so tables, plots and reports can mark outputs without
importing the backbone.
"""
from __future__ import annotations

RANDOM_WEIGHTS_MARKER = "random weights: pipeline check, not a result"
"""The words every table, figure, file and page made with random weights carries."""


class RandomWeightsWarning(UserWarning):
    """Issued once when ``backbone="auto"`` falls back to a randomly initialised CLIP (notebooks show a
    banner instead, see ``indirect_core.notebook``)."""


def banner_text() -> str:
    """The one sentence every page and notebook made with random weights shows at its top."""
    return (f"⚠ {RANDOM_WEIGHTS_MARKER.upper()}: this ran with a randomly initialised CLIP. The numbers and "
            "figures check the pipeline; they say nothing about the methods.")
