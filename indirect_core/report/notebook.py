"""What an executed notebook shows: known noise filtered where it starts, warnings once each in a note, one
random-weights banner, results as readable tables. Notebooks call these instead of printing, so every notebook
reads the same way."""
from __future__ import annotations

import html
import warnings
from typing import Any

from .._util.caveats import StandInWarning, banner_text

BANNER_CLASS = "indirect-caveat"
"""CSS class of the one banner a page made with random weights shows (tests count it)."""

BANNER_STYLE = ("background:#b00020;color:#fff;padding:.8em 1em;font-weight:bold;border-radius:4px;"
                "margin:.5em 0")


WARNINGS_CLASS = "indirect-warnings"
"""CSS class of the note listing a cell's warnings; each warning in it has class ``indirect-warning``."""

NOTE_STYLE = ("background:#fff8e1;border-left:4px solid #e0a800;color:#333;padding:.4em 1em;margin:.5em 0;"
              "font-size:.9em")


class WarningNote:
    """The warnings raised while a notebook runs (worker processes' included, see ``worker_warnings``), each
    shown once: after a cell, one note lists the warnings first raised in it, with how often each was raised."""

    def __init__(self) -> None:
        self.raised: dict[tuple[str, str], int] = {}
        self.shown: set[tuple[str, str]] = set()

    def record(self, message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
               line: str | None = None) -> None:
        """Count a warning instead of printing it (the signature of ``warnings.showwarning``)."""
        key = (category.__name__, str(message).strip())
        self.raised[key] = self.raised.get(key, 0) + 1

    def take_new(self) -> dict[tuple[str, str], int]:
        """The warnings not shown yet, with their counts so far; from now on they count as shown."""
        new = {key: count for key, count in self.raised.items() if key not in self.shown}
        self.shown.update(new)
        return new

    def show_new(self, *_: Any) -> None:
        """Display the note of the warnings not shown yet (an IPython ``post_run_cell`` callback)."""
        new = self.take_new()
        if new:
            plain = [f"{category}: {message}" + (f" ({count} times)" if count > 1 else "")
                     for (category, message), count in new.items()]
            show_html(warnings_html(new), "\n".join(plain))


def warnings_html(raised: dict[tuple[str, str], int]) -> str:
    """The note: one line per distinct warning, ``Category: message``, and how often it was raised."""
    items = "".join(
        f"<li class='indirect-warning' data-warning='{html.escape(f'{category}: {message}')}'>"
        f"<code>{html.escape(category)}</code>: <span style='white-space:pre-line'>{html.escape(message)}</span>"
        + (f" <em>({count} times)</em>" if count > 1 else "") + "</li>"
        for (category, message), count in raised.items())
    return (f"<div class='{WARNINGS_CLASS}' style='{NOTE_STYLE}'><strong>Warnings</strong>"
            f"<ul style='margin:.2em 0;padding-left:1.2em'>{items}</ul></div>")


_NOTE: WarningNote | None = None


def _collect_warnings() -> bool:
    """In an IPython kernel: route every warning to the one ``WarningNote`` (shown after each cell)."""
    global _NOTE
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if _NOTE is None:
        _NOTE = WarningNote()
        shell.events.register("post_run_cell", _NOTE.show_new)
    warnings.showwarning = _NOTE.record
    return True


def start() -> None:
    """Filter the warnings a reader cannot act on (deprecations inside libraries, the random-weights warning
    that the banner replaces); in a notebook the warnings that matter are counted and each is shown once, in
    a note after the cell that first raised it (elsewhere each shows once)."""
    collecting = _collect_warnings()
    # Inserted first so that the rules below take precedence; the note counts every raise, so it sees them all.
    warnings.filterwarnings("always" if collecting else "once")
    warnings.filterwarnings("ignore", message=".*pkg_resources is deprecated.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(torch|clip)\..*")
    warnings.filterwarnings("ignore", category=StandInWarning)
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


def show_text(text: str) -> None:
    """A sentence of narrative made from the parameters, shown as a paragraph (not as printed output)."""
    show_html(f"<p>{html.escape(text)}</p>", text)


def banner_html(caveat: str) -> str:
    """The banner of a backbone's caveat (``_util.caveats``) as an HTML block (one per page)."""
    return f"<div class='{BANNER_CLASS}' style='{BANNER_STYLE}'>{html.escape(banner_text(caveat))}</div>"


def show_backbone(backbone: Any, data: Any = None, cached: Any = None) -> None:
    """One line naming the backbone (and dataset), with the banner of its caveat when it is a stand-in CLIP."""
    line = f"Backbone {backbone.name} (sha256 {backbone.weights_sha256[:12]}…)"
    if data is not None:
        line += f"; dataset {data.name}: {len(data)} images"
        if cached is not None and cached.skipped:
            line += (f" ({len(cached.skipped)} unreadable or passed-over file(s) left out: "
                     f"{', '.join(list(cached.skipped)[:5])})")
    text = f"<p>{html.escape(line)}</p>"
    if backbone.caveat:
        text = banner_html(backbone.caveat) + text
    show_html(text, (banner_text(backbone.caveat) + "\n" if backbone.caveat else "") + line)


def show_results(result: Any, caption: str | None = None) -> None:
    """The evaluation's summary as the readable table (bold best zero-shot value, Oracle set apart)."""
    from ..data.notions import describe_overlap
    from .tables import STYLE, to_html, to_markdown

    notes = {notion: [f"prompt words: {describe_overlap(overlap)}"] for notion, overlap in result.overlaps.items()}
    show_html(f"<style>{STYLE}</style>" + to_html(result.summary, notes=notes, caption=caption),
          to_markdown(result.summary, caveat=None, title=caption, notes=notes))
