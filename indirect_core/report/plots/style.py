"""Figure conventions shared by every plot: paper sizes, the seaborn theme, the fixed colours, captions, saving
(PNG + PDF, atomically, caption as the files' title) and the random-weights banner."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib as mpl
import seaborn as sns
from matplotlib.figure import Figure
from PIL import Image

from ..._util.atomic import atomic_path
from ..._util.errors import ConfigError
from ..._util.validation import check_number
from ...core.models import display_name

COLUMN_WIDTH = 3.3
"""Width in inches of one paper column (two-column layout)."""
DOUBLE_COLUMN_WIDTH = 6.9
"""Width in inches of a figure spanning both columns."""

# Okabe & Ito (2008) colour-blind-safe palette; InDiReCT gets the most salient hue (vermillion).
OKABE_ITO = {"orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
MODEL_HEX = {"random": "#BBBBBB", "clip": "#777777", "indirect": OKABE_ITO["vermillion"],
             "indirect-lbfgs": "#882255",
             "randtransform": OKABE_ITO["purple"], "pca": OKABE_ITO["sky_blue"], "lae": OKABE_ITO["blue"],
             "ae": OKABE_ITO["green"], "oracle": OKABE_ITO["orange"]}
COMPOSED_HEX = {"image-only": "#BBBBBB", "text-only": "#888888", "image + text": "#555555",
                "Pic2Word": OKABE_ITO["blue"], "LinCIR": OKABE_ITO["vermillion"]}
"""Composed-retrieval methods: the three baselines in greys, the mappers in colour (others get the palette)."""
CORRECT_COLOUR, WRONG_COLOUR = OKABE_ITO["green"], OKABE_ITO["vermillion"]
ATTRIBUTION_CMAP = "cividis"
_BANNER_COLOUR = "#C00000"
_BANNER_GID = "indirect-random-weights-banner"
_THEME_RC = {
    "figure.dpi": 150, "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
    "axes.titlesize": 8.5, "axes.titleweight": "normal", "legend.frameon": False,
    "axes.spines.top": False, "axes.spines.right": False, "grid.linewidth": 0.5,
    "lines.linewidth": 1.2, "patch.linewidth": 0.4, "errorbar.capsize": 1.5,
}


def set_theme() -> None:
    """Set the one seaborn/matplotlib theme of all figures (idempotent; every plot helper calls it)."""
    palette = [MODEL_HEX[key] for key in ("indirect", "lae", "pca", "ae", "oracle", "randtransform", "clip")]
    sns.set_theme(context="paper", style="whitegrid", palette=palette, font_scale=0.9, rc=_THEME_RC)


def model_colours() -> dict[str, tuple[float, float, float]]:
    """Fixed RGB colour per model, keyed by model key and by display name (e.g. 'indirect' and 'InDiReCT')."""
    colours: dict[str, tuple[float, float, float]] = {}
    for key, hex_colour in MODEL_HEX.items():
        colours[key] = colours[display_name(key)] = mpl.colors.to_rgb(hex_colour)
    return colours


CAPTION_KEY = "Title"
"""The PNG text chunk and PDF document field holding a saved figure's caption."""


def caption(fig: Figure, text: str) -> Figure:
    """Set the figure's caption (what a page writes under it): its label, saved with it by save_figure."""
    fig.set_label(" ".join(str(text).split()))
    return fig


def finish(fig: Figure, text: str, caveat: str | None) -> Figure:
    """The last step of every plot helper: caption the figure and, when its numbers come from a stand-in CLIP,
    add the banner with its caveat (``_util.caveats``); returns the figure."""
    caption(fig, text)
    return mark_caveat(fig, caveat) if caveat else fig


def figure_caption(path: Path | str) -> str | None:
    """The caption saved in a PNG by save_figure (None for a figure saved without one)."""
    try:
        with Image.open(path) as image:
            return getattr(image, "text", {}).get(CAPTION_KEY) or None
    except OSError:
        return None


def save_figure(fig: Figure, stem: Path | str, formats: Sequence[str] = ("png", "pdf"), dpi: int = 300) -> list[Path]:
    """Write ``stem.<format>`` for each format atomically (folders created), with the figure's caption as the
    files' title; return the written paths."""
    if not isinstance(fig, Figure):
        raise ConfigError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if isinstance(formats, str):
        formats = (formats,)
    supported = fig.canvas.get_supported_filetypes()
    formats = [str(f).lower().lstrip(".") for f in formats]
    if not formats or any(f not in supported for f in formats):
        raise ConfigError(f"formats={list(formats)}: give one or more of {sorted(supported)}")
    check_number("dpi", dpi, above=0, hint="e.g. 300")
    stem = Path(stem)
    if stem.suffix.lower().lstrip(".") in supported:
        raise ConfigError(f"stem={str(stem)!r} has a file extension: pass it without, e.g. "
                          f"{str(stem.with_suffix(''))!r}, and choose file types with formats=")
    written = []
    with mpl.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        for fmt in formats:
            target = stem.with_name(f"{stem.name}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else {}  # byte-stable PDFs across reruns
            if fig.get_label() and fmt in ("png", "pdf"):
                metadata[CAPTION_KEY] = fig.get_label()
            metadata = metadata or None
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", pad_inches=0.02, metadata=metadata)
            written.append(target)
    return written


def mark_caveat(fig: Figure, caveat: str) -> Figure:
    """Put a red banner with the caveat above the figure (once), e.g. 'RANDOM WEIGHTS: PIPELINE CHECK, NOT A
    RESULT'; a long caveat wraps to the figure's width."""
    if not isinstance(fig, Figure):
        raise ConfigError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if any(text.get_gid() == _BANNER_GID for text in fig.texts):
        return fig
    # Just above the figure's top edge: never over the axes; bbox_inches="tight" grows the saved image to fit it.
    above = mpl.transforms.offset_copy(fig.transFigure, fig=fig, y=5, units="points")  # box pad clears titles
    fig.text(0.5, 1.0, _wrapped(caveat.upper(), fig), transform=above, gid=_BANNER_GID, ha="center", va="bottom",
             fontsize=7 if fig.get_figwidth() < 4.5 else 9, fontweight="bold", color="white",
             bbox=dict(boxstyle="square,pad=0.35", facecolor=_BANNER_COLOUR, edgecolor="none"))
    return fig


def _wrapped(text: str, fig: Figure) -> str:
    """The banner's text in lines that fit the figure's width (about 13 bold characters per inch at 9 pt)."""
    fontsize = 7 if fig.get_figwidth() < 4.5 else 9
    return "\n".join(textwrap.wrap(text, max(20, int(fig.get_figwidth() * 13 * 9 / fontsize))))
