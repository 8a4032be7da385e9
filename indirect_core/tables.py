"""Result tables as the paper prints them: ``mean ± std`` with 3 decimals and the paper's metric short names.

Tables made from random-weight backbones carry a visible marker in every format.
"""
from __future__ import annotations

import math

import pandas as pd

from .random_weights import RANDOM_WEIGHTS_MARKER
from .metrics import METRICS, SHORT_NAMES
from .models import MODELS, display_name


def formatted(summary: pd.DataFrame, decimals: int = 3, separator: str = " ± ") -> pd.DataFrame:
    """One string cell per (notion, model) × metric; NaN (a model that could not be fitted) shows as 'n/a'."""
    cells = {}
    for metric in METRICS:
        means, stds = summary[(metric, "mean")], summary[(metric, "std")]
        cells[SHORT_NAMES[metric]] = [
            "n/a" if math.isnan(m) else f"{m:.{decimals}f}{separator}{s:.{decimals}f}" for m, s in zip(means, stds)]
    table = pd.DataFrame(cells, index=pd.MultiIndex.from_tuples(
        [(notion, display_name(key) if key in MODELS else key) for notion, key in summary.index],
        names=["notion", "model"]))
    return table


def to_markdown(summary: pd.DataFrame, random_weights: bool, title: str | None = None) -> str:
    """A Markdown table (one block per notion) with the random-weights banner when it applies."""
    lines = []
    if random_weights:
        lines += [f"> **⚠ {RANDOM_WEIGHTS_MARKER.upper()}** — these numbers come from a CLIP with random "
                  "weights; they check the pipeline and mean nothing about InDiReCT.", ""]
    if title:
        lines += [f"## {title}", ""]
    table = formatted(summary)
    for notion in dict.fromkeys(table.index.get_level_values("notion")):
        block = table.xs(notion, level="notion")
        lines += [f"### {notion}" + (" (random weights)" if random_weights else ""), "",
                  block.to_markdown(), ""]
        notes = summary.xs(notion, level="notion")[("note", "")]
        for key, note in notes.items():
            if note:
                lines.append(f"- {display_name(key)}: {note}")
        if any(notes):
            lines.append("")
    return "\n".join(lines)


def to_latex(summary: pd.DataFrame, random_weights: bool, caption: str = "Retrieval results") -> str:
    """A booktabs LaTeX table: rows notion × model, columns the 7 metrics as ``mean $\\pm$ std``."""
    table = formatted(summary, separator=r" $\pm$ ")
    if random_weights:
        caption = f"{caption}. \\textbf{{{RANDOM_WEIGHTS_MARKER.upper()}}}"
    header = " & ".join(["Notion", "Model", *table.columns])
    body, previous = [], None
    for (notion, model), row in table.iterrows():
        if previous is not None and notion != previous:
            body.append(r"\midrule")
        body.append(" & ".join([_latex_escape(notion) if notion != previous else "", _latex_escape(model),
                                *row.tolist()]) + r" \\")
        previous = notion
    lines = [r"\begin{table}", r"\centering", f"\\caption{{{_latex_escape(caption, keep_commands=True)}}}",
             r"\begin{tabular}{ll" + "c" * len(table.columns) + "}", r"\toprule", header + r" \\", r"\midrule",
             *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    if random_weights:
        lines.insert(0, f"% {RANDOM_WEIGHTS_MARKER}")
    return "\n".join(lines)


def _latex_escape(text: str, keep_commands: bool = False) -> str:
    """Escape LaTeX special characters in a cell (commands kept where we wrote them ourselves)."""
    replacements = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_"}
    if not keep_commands:
        replacements.update({"{": r"\{", "}": r"\}", "$": r"\$"})
    return "".join(replacements.get(char, char) for char in str(text))
