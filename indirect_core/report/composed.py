"""What a reader sees of a composed-retrieval evaluation: the results table (HTML, Markdown, LaTeX), example
queries with their top-ranked images, and the files notebook 05 writes.

Values are printed in percent with two decimals, as CIR papers print them; the best value of each metric per
benchmark subset is bold. A table made with random CLIP weights says so.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .._util.atomic import write_json_atomic, write_text_atomic
from .._util.errors import ConfigError
from .._util.validation import check_int
from ..composed.evaluate import TABLE_KEYS, rank_gallery, rank_subsets
from ..composed.queries import QuerySet

DECIMALS = 2
BASELINE_NOTE = ("image-only: the reference image's feature; text-only: the modification text's CLIP feature; "
                 "image + text: the normalised sum of both. Pic2Word and LinCIR put the mapper's pseudo word into "
                 "their published prompts. InDiReCT-CIR keeps the reference in the notions the text does not "
                 "speak about and matches the text in those it does, each in its own InDiReCT space fitted on "
                 "prompts only, summing z-scored similarities (oracle routing: the recorded changed factors).")
"""One line saying what each row is (under every composed-retrieval table)."""
BREAKDOWN_METRICS = ("R@1", "R@5", "R@10", "R_subset@1")
"""The metrics of the per-changed-factor breakdown."""
BY_CHANGED_FILE, ROUTING_FILE, NOTIONS_FILE = "results_by_changed.csv", "routing.csv", "notions.csv"
"""InDiReCT-CIR's extra files beside results.csv (written when the study has them)."""


def metric_columns(table: pd.DataFrame) -> list[str]:
    """The metric columns of a results table, in its order."""
    return [c for c in table.columns if c not in TABLE_KEYS and c != "warning"]


def _blocks(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One block of rows per benchmark split and subset, in the table's order."""
    blocks = []
    for (benchmark, split, subset), part in table.groupby(["benchmark", "split", "subset"], sort=False):
        title = f"{benchmark}{' / ' + subset if subset else ''} ({split}, {int(part['n_queries'].iloc[0])} queries)"
        blocks.append((title, part))
    return blocks


def _rows(part: pd.DataFrame, metrics: list[str]) -> list[tuple[str, list[tuple[str, bool]]]]:
    """One (method, [(value in percent as text, is the block's best)]) per row: the layout of all three formats."""
    shown = {m: [round(100 * v, DECIMALS) for v in part[m] if not _missing(v)] for m in metrics}
    best = {m: max(values) if values else None for m, values in shown.items()}
    rows = []
    for _, row in part.iterrows():
        cells = [("n/a", False) if _missing(row[m]) else
                 (f"{100 * row[m]:.{DECIMALS}f}", round(100 * row[m], DECIMALS) == best[m]) for m in metrics]
        rows.append((str(row["method"]), cells))
    return rows


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def to_html(table: pd.DataFrame, caption: str | None = None) -> str:
    """The composed results as one HTML table (the project's ``indirect-results`` style), best values bold.

    It carries no random-weights note: every page it goes on shows the one banner instead."""
    metrics = metric_columns(table)
    parts = ["<table class='indirect-results'>"]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    header = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    parts.append(f"<thead><tr><th class='model'>method</th>{header}</tr></thead><tbody>")
    for title, part in _blocks(table):
        parts.append(f"<tr class='notion'><td colspan='{len(metrics) + 1}'>{html.escape(title)}</td></tr>")
        for method, cells in _rows(part, metrics):
            tds = "".join(f"<td><span class='{'mean best' if strong else 'mean'}'>{text}</span></td>"
                          for text, strong in cells)
            parts.append(f"<tr><td class='model'>{html.escape(method)}</td>{tds}</tr>")
    parts.append("</tbody></table>")
    notes = ["Values in percent. Bold: the best value per metric and benchmark subset.", BASELINE_NOTE]
    parts.append("<ul class='indirect-results-notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                 + "</ul>")
    return "\n".join(parts)


def to_markdown(table: pd.DataFrame, title: str | None = None, marked: bool = True) -> str:
    """The composed results as a Markdown table per benchmark subset, best values bold, in percent.

    ``marked``: the table's caveat (its ``warning`` column, ``_util.caveats``) above it; pass False where the page
    shows its banner."""
    metrics = metric_columns(table)
    lines = [f"## {title}", ""] if title else []
    if marked and "warning" in table.columns:
        lines += [f"> **{table['warning'].iloc[0]}**", ""]
    for block_title, part in _blocks(table):
        lines += [f"**{block_title}**", "", "| method | " + " | ".join(metrics) + " |",
                  "|---|" + "---:|" * len(metrics)]
        for method, cells in _rows(part, metrics):
            lines.append(f"| {method} | " + " | ".join(f"**{t}**" if strong else t for t, strong in cells) + " |")
        lines.append("")
    lines += ["Values in percent. " + BASELINE_NOTE, ""]
    return "\n".join(lines)


def to_latex(table: pd.DataFrame, caption: str = "Composed image retrieval") -> str:
    """The composed results as a booktabs LaTeX table (percent, best bold, one block per benchmark subset)."""
    metrics = metric_columns(table)
    if "warning" in table.columns:
        caption = f"{caption} ({table['warning'].iloc[0]})"
    lines = ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{_escape(caption)}}}",
             "\\begin{tabular}{l" + "r" * len(metrics) + "}", "\\toprule",
             "Method & " + " & ".join(_escape(m) for m in metrics) + " \\\\"]
    for title, part in _blocks(table):
        lines += ["\\midrule", f"\\multicolumn{{{len(metrics) + 1}}}{{l}}{{\\textit{{{_escape(title)}}}}} \\\\"]
        for method, cells in _rows(part, metrics):
            lines.append(f"{_escape(method)} & " + " & ".join(f"\\textbf{{{t}}}" if strong else t
                                                              for t, strong in cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def _escape(text: str) -> str:
    for char, escaped in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#"),
                          ("$", "\\$"), ("{", "\\{"), ("}", "\\}")):
        text = text.replace(char, escaped)
    return text


def pick_examples(query_set: QuerySet, n: int, seed: int = 0) -> list[int]:
    """``n`` query indices, deterministic from the seed, spread over the split (fewer if it has fewer)."""
    check_int("n_examples", n, minimum=0)
    order = np.random.default_rng(seed).permutation(len(query_set))
    return sorted(int(i) for i in order[:n])


def example_rankings(query_set: QuerySet, image_features: torch.Tensor | Mapping[str, torch.Tensor],
                     query_features: Mapping[str, torch.Tensor], queries: Sequence[int], k: int = 5
                     ) -> tuple[dict[str, list[list[Path]]], dict[str, list[list[bool]]]]:
    """Per method: the top-``k`` image paths of each example query and whether each is a ground truth.

    ``image_features``: the rows every method ranks against, or per method its own (``ComposedStudy.gallery``)."""
    images, hits = {}, {}
    for method, features in query_features.items():
        chosen = features[list(queries)]
        gallery = image_features[method] if isinstance(image_features, Mapping) else image_features
        subset = query_set.take(list(queries))
        if query_set.gallery is not None:
            ranking = rank_gallery(subset, gallery, chosen, k)
        else:
            ranking = rank_subsets(subset, gallery, chosen)[:, :k]
        images[method] = [[query_set.images.image_paths[i] for i in row if i >= 0] for row in ranking.tolist()]
        hits[method] = [[i in set(query_set.targets[q]) for i in row if i >= 0]
                        for q, row in zip(queries, ranking.tolist())]
    return images, hits


def write_results(table: pd.DataFrame, folder: Path | str, title: str, record: dict) -> list[Path]:
    """results.csv / .md / .tex and provenance.json of one composed evaluation, written atomically."""
    folder = Path(folder)
    written = [folder / "results.csv", folder / "results.md", folder / "results.tex", folder / "provenance.json"]
    write_text_atomic(written[0], table.to_csv(index=False))
    write_text_atomic(written[1], to_markdown(table, title=title))
    write_text_atomic(written[2], to_latex(table, caption=title))
    write_json_atomic(written[3], record)
    return written


def breakdown_table(by_changed: pd.DataFrame) -> pd.DataFrame:
    """The per-changed-factor scores as a results table (one block per combination of changed factors, so the
    best method of each is bold), with ``BREAKDOWN_METRICS``."""
    if by_changed.empty:
        return by_changed
    table = by_changed.copy()
    table["subset"] = [f"changed: {c.replace('+', ' + ')}" + (f" ({s})" if s else "")
                       for c, s in zip(table["changed"], table["subset"])]
    metrics = [m for m in BREAKDOWN_METRICS if m in table.columns]
    return table[[*TABLE_KEYS, *metrics]]


def winners(by_changed: pd.DataFrame, metric: str = "R@1") -> str:
    """Which method has the best ``metric`` for each combination of changed factors, as measured, in one sentence
    per combination (ties named together)."""
    if by_changed.empty or metric not in by_changed.columns:
        return ""
    lines = []
    for changed, part in by_changed.groupby("changed", sort=False):
        best = part[metric].max()
        leaders = part.loc[part[metric] == best, "method"].tolist()
        others = part.loc[part[metric] < best].sort_values(metric, ascending=False)
        runner = (f"; next {others.iloc[0]['method']} ({100 * others.iloc[0][metric]:.{DECIMALS}f})"
                  if len(others) else "")
        lines.append(f"changed {str(changed).replace('+', ' + ')}: {' and '.join(leaders)} best "
                     f"({100 * best:.{DECIMALS}f}){runner}.")
    return f"{metric}, the best method per changed factor(s), as measured: " + " ".join(lines)


def routing_html(routing: pd.DataFrame) -> str:
    """InDiReCT-CIR's routing accuracy (share of queries whose changed factors automatic routing finds exactly)."""
    rows = "".join(f"<tr><td>{html.escape(str(r['changed']).replace('+', ' + '))}</td><td class='num'>"
                   f"{int(r['n_queries'])}</td><td class='num'>{100 * r['routing accuracy']:.{DECIMALS}f}</td></tr>"
                   for _, r in routing.iterrows())
    return ("<table class='indirect-results'><thead><tr><th class='model'>changed factors</th><th>queries</th>"
            f"<th>routing accuracy</th></tr></thead><tbody>{rows}</tbody></table>")


def routing_markdown(routing: pd.DataFrame) -> str:
    lines = ["| changed factors | queries | routing accuracy |", "|---|---:|---:|"]
    lines += [f"| {str(r['changed']).replace('+', ' + ')} | {int(r['n_queries'])} | "
              f"{100 * r['routing accuracy']:.{DECIMALS}f} |" for _, r in routing.iterrows()]
    return "\n".join(lines) + "\n"


def notions_html(notions: pd.DataFrame) -> str:
    """InDiReCT-CIR's notion spaces, one list item each (prompts, where the words come from, solver, dimensions and
    the overlap with the labels): a list, so long prompts wrap within the page instead of widening a table."""
    subsets = "subset" in notions.columns and notions["subset"].astype(bool).any()
    items = []
    for _, r in notions.iterrows():
        where = f" ({html.escape(str(r['subset']))})" if subsets else ""
        items.append(f"<li><strong>{html.escape(str(r['notion']))}</strong>{where}: {int(r['prompts'])} prompts, "
                     f"first <em>{html.escape(str(r['first prompts']))}</em>; words: {html.escape(str(r['words']))}; "
                     f"{html.escape(str(r['solver']))}, {int(r['dimensions'])} dimensions; "
                     f"{html.escape(str(r['overlap']))}</li>")
    return f"<ul class='notion-spaces'>{''.join(items)}</ul>"


def notions_markdown(notions: pd.DataFrame) -> str:
    columns = [c for c in ("subset", "notion", "prompts", "first prompts", "words", "solver", "dimensions", "overlap")
               if c in notions.columns and (c != "subset" or notions[c].astype(bool).any())]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]).replace("|", "/") for c in columns) + " |" for _, r in notions.iterrows()]
    return "\n".join(lines) + "\n"


def show_notion_composed(study: object) -> None:
    """InDiReCT-CIR's prompts per notion, its routing accuracy and the scores by changed factor(s), where the
    study has them (nothing is shown otherwise)."""
    from .notebook import show_html
    from .tables import STYLE

    parts, plain = [], []
    if not study.notions.empty:
        parts.append("<h4>InDiReCT-CIR's notion spaces (fitted on these prompts only)</h4>"
                     + notions_html(study.notions))
        plain.append(notions_markdown(study.notions))
    if not study.routing.empty:
        parts.append("<h4>Routing accuracy: share of queries whose changed factors automatic routing finds "
                     "exactly</h4>" + routing_html(study.routing))
        plain.append(routing_markdown(study.routing))
    if not study.by_changed.empty:
        table = breakdown_table(study.by_changed)
        parts.append("<h4>By changed factor(s)</h4>" + to_html(table))
        plain.append(to_markdown(table, marked=False))
    if study.notes:
        parts.append("<p>" + "<br>".join(html.escape(n) for n in study.notes) + "</p>")
        plain += study.notes
    if parts:
        show_html(f"<style>{STYLE}</style>" + "".join(parts), "\n".join(plain))


def show(study: object, caption: str | None = None) -> None:
    """The study's results table in a notebook (or the list of submission files of a hidden test split)."""
    from .notebook import show_html
    from .tables import STYLE

    if study.table.empty:
        names = ", ".join(p.name for p in study.submissions)
        show_html(f"<p>Hidden test split: no scores here; submission files written: {html.escape(names)}</p>",
              f"Hidden test split: submission files written: {names}")
        return
    show_html(f"<style>{STYLE}</style>" + to_html(study.table, caption=caption),
              to_markdown(study.table, title=caption, marked=False))


def plot_examples(study: object, n: int, seed: int = 0, k: int = 5, caveat: str | None = None) -> object:
    """Figure: ``n`` example queries of the first query set, each method's top-``k`` framed by ground truth."""
    from .plots import caption, plot_neighbours

    query_set = study.query_sets[0]
    queries = pick_examples(query_set, n, seed)
    if not queries:
        raise ConfigError(f"{query_set.name} has no query to show")
    images = {method: study.gallery(0, method) for method in study.query_features[0]}
    paths, hits = example_rankings(query_set, images, study.query_features[0], queries, k)
    references = [query_set.images.image_paths[query_set.reference[q]] for q in queries]
    texts = [" / ".join(query_set.captions[q]) if not isinstance(query_set.captions[q], str)
             else query_set.captions[q] for q in queries]
    fig = plot_neighbours(references, paths, correct=hits, caveat=caveat, query_labels=texts,
                          legend=("ground-truth target", "other image"))
    return caption(fig, f"{len(queries)} example queries of {query_set.name}: the top {k} of each method")


def write_study(study: object, folder: Path | str, title: str, backbone: dict, **settings: object) -> list[Path]:
    """The study's files: results (CSV, Markdown, LaTeX) when scored, and provenance.json in every case."""
    from ..analysis.provenance import provenance

    folder = Path(folder)
    counts = {q.name: {"queries": len(q), "images": len(q.images)} for q in study.query_sets}
    record = provenance(backbone, {"name": settings.get("benchmark"), "query_sets": counts}, [],
                        methods=[m.name for m in study.methods], notes=list(getattr(study, "notes", [])),
                        submissions=[str(p) for p in study.submissions], **settings)
    extra = []
    for name, table in ((BY_CHANGED_FILE, getattr(study, "by_changed", None)),
                        (ROUTING_FILE, getattr(study, "routing", None)),
                        (NOTIONS_FILE, getattr(study, "notions", None))):
        if table is not None and not table.empty:
            extra.append(write_text_atomic(folder / name, table.to_csv(index=False)))
    if study.table.empty:
        write_json_atomic(folder / "provenance.json", record)
        return [*study.submissions, *extra, folder / "provenance.json"]
    return write_results(study.table, folder, title, record) + extra
