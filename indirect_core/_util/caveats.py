"""Caveats: what every output made with a stand-in CLIP says about itself, in words a reader cannot miss.

Two backbones are stand-ins for OpenAI's CLIP: ``random-tiny`` (random weights: the numbers check the pipeline
only) and ``shapes-clip`` (a small CLIP trained here on synthetic shapes: the method at work on the embedded data,
not the paper's numbers). A backbone's identity carries its caveat; tables, figures, pages, provenance files and
cache manifests made with it carry the same words. Kept in a module of its own (no torch, no clip) so reports can
mark outputs without importing the backbone.
"""
from __future__ import annotations

from typing import Mapping

RANDOM_WEIGHTS_MARKER = "random weights: pipeline check, not a result"
"""The words every table, figure, file and page made with random weights carries."""
SHAPES_CLIP_MARKER = "shapes-clip: a CLIP trained here on synthetic shapes; the method at work, not the paper's numbers"
"""The words every table, figure, file and page made with shapes-clip carries."""
CAVEATS: tuple[str, ...] = (RANDOM_WEIGHTS_MARKER, SHAPES_CLIP_MARKER)
"""Every caveat an output can carry."""

_BANNERS = {
    RANDOM_WEIGHTS_MARKER: "this ran with a randomly initialised CLIP. The numbers and figures check the pipeline; "
                           "they say nothing about the methods.",
    SHAPES_CLIP_MARKER: "this ran with shapes-clip, a small CLIP trained on this machine on synthetic shapes. The "
                        "numbers show the methods at work on the embedded data; they are not the paper's numbers, "
                        "which need OpenAI's CLIP weights.",
}


class StandInWarning(UserWarning):
    """Issued once when ``backbone="auto"`` falls back to a stand-in CLIP (notebooks show a banner instead)."""


def banner_text(caveat: str) -> str:
    """The one sentence every page and notebook made with the caveat's backbone shows at its top."""
    return f"⚠ {caveat.upper()}: {_BANNERS.get(caveat, '')}".rstrip(": ")


def caveat_of(identity: Mapping | None) -> str | None:
    """The caveat of a backbone identity (``Backbone.identity()``, as provenance and caches record it), or None
    for OpenAI's (or your own) CLIP weights."""
    if not identity:
        return None
    if identity.get("caveat") in CAVEATS:
        return identity["caveat"]
    return RANDOM_WEIGHTS_MARKER if identity.get("random_weights") else None


def caveat_in(text: str) -> str | None:
    """The caveat a text (a page, a table, a file) mentions, if any (the random-weights one first)."""
    lowered = text.lower()
    return next((caveat for caveat in CAVEATS if caveat.lower() in lowered), None)
