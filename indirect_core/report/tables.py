"""Result tables that read at a glance: ``mean ± std`` with 3 decimals and the paper's metric short names.

One layout in three formats (HTML for notebooks and the run index, Markdown, LaTeX with booktabs): one block
of rows per notion, the best zero-shot mean of each metric in bold, the Oracle (trained on the evaluation
labels) set apart below a rule as the supervised upper bound, and "n/a" with a numbered footnote giving the
reason. Tables made with random weights say so.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from ..core.metrics import METRICS, SHORT_NAMES
from ..core.models import MODELS, display_name
from .._util.caveats import banner_text

DECIMALS = 3
SOLVER_LEGEND = ("InDiReCT = the authors' procedure (random start, full-batch Adam, patience 100); "
                 "InDiReCT (L-BFGS) = our solver of the same objective (principal start, L-BFGS, deterministic).")
"""One line naming the solver behind each InDiReCT row (shown under every table that has one)."""

STYLE = """
.indirect-results{border-collapse:collapse;font-size:.85em;margin:.6em 0;font-variant-numeric:tabular-nums}
.indirect-results th,.indirect-results td{padding:.25em .7em;border-bottom:1px solid #e3e3e3;text-align:right;
white-space:nowrap}
.indirect-results th{background:#f4f4f4;font-weight:600}
.indirect-results td.model,.indirect-results th.model{text-align:left}
.indirect-results tr.notion td{text-align:left;font-weight:600;background:#fafafa;border-top:2px solid #bbb}
.indirect-results tr.upper-bound td{border-top:1px dashed #999;color:#555;font-style:italic}
.indirect-results .std{color:#888;font-size:.82em}
.indirect-results .best{font-weight:700}
.indirect-results-notes{font-size:.8em;color:#444;margin:.2em 0 1em 0;padding-left:1.2em}
"""
"""CSS of the HTML tables (the run index and the notebooks include it once)."""


@dataclass
class _Table:
    """The layout shared by the three formats: rows per notion, cells, bold marks, footnotes."""

    notions: list[str]
    rows: dict[str, list[tuple[str, list[tuple[float, float]], list[bool], str]]]
    footnotes: list[str] = field(default_factory=list)
    notion_notes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def has_indirect(self) -> bool:
        return any(key.startswith("indirect") for rows in self.rows.values() for key, *_ in rows)


def _layout(summary: pd.DataFrame, notes: dict[str, list[str]] | None = None) -> _Table:
    """Rows in the summary's order, the Oracle moved last; bold = best displayed zero-shot mean per metric."""
    notions = list(dict.fromkeys(summary.index.get_level_values("notion")))
    reasons: list[str] = []
    rows: dict[str, list] = {}
    for notion in notions:
        block = summary.xs(notion, level="notion")
        keys = sorted(block.index, key=lambda k: _is_upper_bound(k))  # stable: the Oracle goes last
        best = {}
        for metric in METRICS:
            shown = [round(block.loc[k, (metric, "mean")], DECIMALS) for k in keys if not _is_upper_bound(k)
                     and not math.isnan(block.loc[k, (metric, "mean")])]
            best[metric] = max(shown) if shown else None
        rows[notion] = []
        for key in keys:
            cells = [(float(block.loc[key, (m, "mean")]), float(block.loc[key, (m, "std")])) for m in METRICS]
            bold = [not _is_upper_bound(key) and not math.isnan(mean) and round(mean, DECIMALS) == best[m]
                    for (mean, _), m in zip(cells, METRICS)]
            note = str(block.loc[key, ("note", "")] or "") if ("note", "") in block.columns else ""
            marker = ""
            if note and any(math.isnan(mean) for mean, _ in cells):
                if note not in reasons:
                    reasons.append(note)
                marker = _superscript(reasons.index(note) + 1)
            rows[notion].append((key, cells, bold, marker))
    return _Table(notions, rows, reasons, dict(notes or {}))


def _is_upper_bound(key: str) -> bool:
    """The supervised upper bound: a model fitted on the evaluation images and their labels (the Oracle)."""
    return key in MODELS and MODELS[key].fit_input == "image_labels"


def _label(key: str) -> str:
    name = display_name(key) if key in MODELS else key
    return f"{name} (supervised upper bound)" if _is_upper_bound(key) else name


def _superscript(number: int) -> str:
    return "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(d)] for d in str(number))


def to_html(summary: pd.DataFrame, notes: dict[str, list[str]] | None = None, caption: str | None = None) -> str:
    """The results as one HTML table (class ``indirect-results``, styled by ``STYLE``) plus its footnotes."""
    table = _layout(summary, notes)
    header = "".join(f"<th>{html.escape(SHORT_NAMES[m])}</th>" for m in METRICS)
    parts = ["<table class='indirect-results'>"]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(f"<thead><tr><th class='model'>model</th>{header}</tr></thead><tbody>")
    for notion in table.notions:
        parts.append(f"<tr class='notion'><td colspan='{len(METRICS) + 1}'>{html.escape(notion)}</td></tr>")
        for key, cells, bold, marker in table.rows[notion]:
            css = " class='upper-bound'" if _is_upper_bound(key) else ""
            tds = []
            for (mean, std), strong in zip(cells, bold):
                if math.isnan(mean):
                    tds.append(f"<td>n/a{marker}</td>")
                else:
                    value = f"<span class='{'mean best' if strong else 'mean'}'>{mean:.{DECIMALS}f}</span>"
                    tds.append(f"<td>{value}<span class='std'> ± {std:.{DECIMALS}f}</span></td>")
            parts.append(f"<tr{css}><td class='model'>{html.escape(_label(key))}</td>{''.join(tds)}</tr>")
    parts.append("</tbody></table>")
    lines = [f"{_superscript(i + 1)} n/a: {reason}" for i, reason in enumerate(table.footnotes)]
    lines += [f"{notion}: {line}" for notion in table.notions for line in table.notion_notes.get(notion, [])]
    if table.has_indirect:
        lines.append(SOLVER_LEGEND)
    lines.append("Bold: the best zero-shot mean per notion and metric (the Oracle is trained on the evaluation "
                 "labels and not compared).")
    parts.append("<ul class='indirect-results-notes'>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
                 + "</ul>")
    return "\n".join(parts)


def to_markdown(summary: pd.DataFrame, caveat: str | None, title: str | None = None,
                notes: dict[str, list[str]] | None = None) -> str:
    """A Markdown table per notion (bold best zero-shot mean, the Oracle last and named as the upper bound,
    footnoted n/a), the backbone's caveat (``_util.caveats``) above it when it has one; ``notes`` adds lines
    under a notion."""
    table = _layout(summary, notes)
    lines = []
    if caveat:
        lines += [f"> **{banner_text(caveat)}**", ""]
    if title:
        lines += [f"## {title}", ""]
    header = "| model | " + " | ".join(SHORT_NAMES[m] for m in METRICS) + " |"
    for notion in table.notions:
        lines += [f"### {notion}", "", header,
                  "|:---|" + "---:|" * len(METRICS)]
        for key, cells, bold, marker in table.rows[notion]:
            name = f"_{_label(key)}_" if _is_upper_bound(key) else _label(key)
            values = []
            for (mean, std), strong in zip(cells, bold):
                text = f"n/a{marker}" if math.isnan(mean) else f"{mean:.{DECIMALS}f} ± {std:.{DECIMALS}f}"
                values.append(f"**{mean:.{DECIMALS}f}** ± {std:.{DECIMALS}f}" if strong else text)
            lines.append(f"| {name} | " + " | ".join(values) + " |")
        lines.append("")
        extra = [f"- {line}" for line in table.notion_notes.get(notion, [])]
        lines += extra + ([""] if extra else [])
    foot = [f"{_superscript(i + 1)} n/a: {reason}" for i, reason in enumerate(table.footnotes)]
    if table.has_indirect:
        foot.append(SOLVER_LEGEND)
    foot.append("Bold: the best zero-shot mean per notion and metric; the Oracle is the supervised upper bound.")
    lines += [f"{line}  " for line in foot]
    return "\n".join(lines)


def to_latex(summary: pd.DataFrame, caveat: str | None, caption: str = "Retrieval results") -> str:
    """A booktabs LaTeX table: rows notion × model, the 7 metrics as ``mean $\\pm$ std`` with the paper's short
    names, the best zero-shot mean in bold, the Oracle below a light rule, n/a with a footnote mark."""
    table = _layout(summary)
    if caveat:
        caption = f"{caption}. \\textbf{{{caveat.upper()}}}"
    header = " & ".join(["Notion", "Model", *[SHORT_NAMES[m] for m in METRICS]])
    body = []
    for number, notion in enumerate(table.notions):
        if number:
            body.append(r"\midrule")
        for row, (key, cells, bold, marker) in enumerate(table.rows[notion]):
            if _is_upper_bound(key) and row:
                body.append(r"\cmidrule(l){2-" + str(len(METRICS) + 2) + "}")
            values = []
            for (mean, std), strong in zip(cells, bold):
                if math.isnan(mean):
                    values.append("n/a" + (f"$^{{{_footnote_number(marker)}}}$" if marker else ""))
                else:
                    shown = f"{mean:.{DECIMALS}f}"
                    values.append((f"\\textbf{{{shown}}}" if strong else shown) + f" $\\pm$ {std:.{DECIMALS}f}")
            name = display_name(key) if key in MODELS else key
            body.append(" & ".join([_latex_escape(notion) if row == 0 else "", _latex_escape(name), *values]) + r" \\")
    lines = [r"\begin{table}", r"\centering", f"\\caption{{{_latex_escape(caption, keep_commands=True)}}}",
             r"\begin{tabular}{ll" + "c" * len(METRICS) + "}", r"\toprule", header + r" \\", r"\midrule",
             *body, r"\bottomrule", r"\end{tabular}"]
    notes = [f"$^{{{i + 1}}}$ n/a: {_latex_escape(reason)}" for i, reason in enumerate(table.footnotes)]
    notes.append("Bold: best zero-shot mean; the Oracle is trained on the evaluation labels (upper bound).")
    lines += [r"\par\footnotesize " + r" \\ ".join(notes), r"\end{table}", ""]
    if caveat:
        lines.insert(0, f"% {caveat}")
    return "\n".join(lines)


def _footnote_number(marker: str) -> int:
    return int("".join(str("⁰¹²³⁴⁵⁶⁷⁸⁹".index(c)) for c in marker))


def _latex_escape(text: str, keep_commands: bool = False) -> str:
    """Escape LaTeX special characters in a cell (commands kept where we wrote them ourselves)."""
    replacements = {"&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_"}
    if not keep_commands:
        replacements.update({"{": r"\{", "}": r"\}", "$": r"\$"})
    return "".join(replacements.get(char, char) for char in str(text))
