"""What an executed notebook shows: known noise filtered where it starts, one random-weights banner, results
as readable tables. Notebooks call these instead of printing, so every notebook reads the same way."""
from __future__ import annotations

import html
import warnings
from typing import Any

from .._util.random_weights import RandomWeightsWarning, banner_text

BANNER_CLASS = "indirect-random-weights"
"""CSS class of the one banner a page made with random weights shows (tests count it)."""

BANNER_STYLE = ("background:#b00020;color:#fff;padding:.8em 1em;font-weight:bold;border-radius:4px;"
                "margin:.5em 0")


def start() -> None:
    """Filter the warnings a reader cannot act on (deprecations inside libraries, the random-weights warning
    that the banner replaces); warnings that matter still show, once."""
    warnings.filterwarnings("once")  # inserted first so that the rules below take precedence
    warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(torch|clip)\..*")
    warnings.filterwarnings("ignore", category=RandomWeightsWarning)
    warnings.filterwarnings("ignore", message="IProgress not found.*")


def show_html(html_text: str, plain: str) -> None:
    """Display HTML in a notebook (IPython), print the plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
        print(plain)
        return
    if get_ipython() is None:
        print(plain)
    else:
        display(HTML(html_text))


def banner_html() -> str:
    """The random-weights banner as an HTML block (one per page)."""
    return f"<div class='{BANNER_CLASS}' style='{BANNER_STYLE}'>{html.escape(banner_text())}</div>"


def show_backbone(backbone: Any, data: Any = None, cached: Any = None) -> None:
    """One line naming the backbone (and dataset), with the banner when its weights are random."""
    line = f"Backbone {backbone.name} (sha256 {backbone.weights_sha256[:12]}…)"
    if data is not None:
        line += f"; dataset {data.name}: {len(data)} images"
        if cached is not None and cached.skipped:
            line += (f" ({len(cached.skipped)} unreadable or passed-over file(s) left out: "
                     f"{', '.join(list(cached.skipped)[:5])})")
    text = f"<p>{html.escape(line)}</p>"
    if backbone.random_weights:
        text = banner_html() + text
    show_html(text, (banner_text() + "\n" if backbone.random_weights else "") + line)


def show_results(result: Any, caption: str | None = None) -> None:
    """The evaluation's summary as the readable table (bold best zero-shot value, Oracle set apart)."""
    from ..data.notions import describe_overlap
    from .tables import STYLE, to_html, to_markdown

    notes = {notion: [f"prompt words: {describe_overlap(overlap)}"] for notion, overlap in result.overlaps.items()}
    show_html(f"<style>{STYLE}</style>" + to_html(result.summary, notes=notes, caption=caption),
          to_markdown(result.summary, random_weights=False, title=caption, notes=notes))
