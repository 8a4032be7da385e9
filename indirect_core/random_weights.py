"""The random-weights marker: every output made with a randomly initialised CLIP carries it.

Kept in a module of its own (no torch, no clip) so tables, plots and reports can mark outputs without
importing the backbone.
"""
from __future__ import annotations

RANDOM_WEIGHTS_MARKER = "random weights: pipeline check, not a result"
"""The words every table, figure, file and page made with random weights carries."""
