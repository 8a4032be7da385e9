"""The run folder's front page: index.html and README.md, read like a paper's supplement.

A table of contents per dataset and backbone (results, figures, attribution, composed retrieval when present,
time), readable result tables with the prompt/label overlap of every notion and the solver of every InDiReCT
row, the skipped images, where the time went, and every executed notebook as an HTML page and a notebook.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from .._util.atomic import write_text_atomic
from ..analysis.attribution import describe_mask_share
from ..analysis.cross_notion import describe as describe_cross_notion
from ..analysis.experiment import summarize
from ..core.models import MODELS, display_name
from .._util.naming import slug
from .notebook import banner_html
from .._util.caveats import CAVEATS, banner_text, caveat_of
from .tables import STYLE as TABLE_STYLE
from .tables import to_html, to_markdown
from ..composed.methods import MAPPER_METHODS, method_name
from .composed import (BY_CHANGED_FILE, NOTIONS_FILE, ROUTING_FILE, breakdown_table, notions_html, notions_markdown,
                       routing_html, routing_markdown, to_html as composed_html, to_markdown as composed_markdown,
                       winners)

INDEX_FIGURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "01_cache_embeddings": ("figures", ("samples",)),
    "03_evaluate": ("figures", ("metric_bars", "metrics_grid", "cross_notion", "neighbours")),
    "04_attribution": ("attribution", ("attributions", "mask_share")),
    "05_composed_retrieval": ("composed", ("composed_recall", "composed_examples")),
    "06_train_mapper": ("composed", ("loss_curve",)),
}
"""The figures the index shows, per notebook: the index section they belong to and their file name prefixes
(the other figures, e.g. notebook 02's InDiReCT loss curves, stay on their notebook's page)."""
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table.jobs{border-collapse:collapse;font-size:.85em;margin:.6em 0}
table.jobs th,table.jobs td{border-bottom:1px solid #e3e3e3;padding:.25em .6em;text-align:left;white-space:nowrap}
table.jobs th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b00020}.ok{color:#1b7f3b}.muted{color:#666;font-size:.9em}
nav{background:#f7f7f7;padding:.6em 1em;border-radius:4px;font-size:.92em}nav ul{margin:.2em 0}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.scroll{overflow-x:auto}code{background:#f4f4f4;padding:0 .2em}
"""


def run_caveat(run_dir: Path) -> str | None:
    """The caveat of the stand-in CLIP any job's provenance says it used (``_util.caveats``; random weights
    first when a run holds both), or None."""
    found = set()
    for path in run_dir.rglob("provenance.json"):
        record = _read_json(path)
        found.add(caveat_of(record.get("backbone")) or (record.get("WARNING") if record.get("WARNING") in CAVEATS
                                                        else None))
    return next((caveat for caveat in CAVEATS if caveat in found), None)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@dataclass
class _Section:
    """What the index shows for one dataset × backbone (the job folder prefix)."""

    prefix: str
    evaluations: list = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    attribution: list[Path] = field(default_factory=list)
    composed: list = field(default_factory=list)
    composed_figures: list[Path] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    attribution_claims: list[str] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _sections(run_dir: Path, results: Sequence) -> list[_Section]:
    """Group the jobs by dataset/backbone, in plan order, with their tables, figures and skipped images."""
    sections: dict[str, _Section] = {}
    for result in results:
        prefix = result.job.id.rsplit("/", 1)[0]
        section = sections.setdefault(prefix, _Section(prefix))
        section.jobs.append(result)
        folder = run_dir / result.job.id
        record = _read_json(folder / "provenance.json")
        section.skipped.update(record.get("settings", {}).get("skipped_images") or {})
        pngs = sorted((folder / "figures").glob("*.png")) if (folder / "figures").is_dir() else []
        if Path(result.job.notebook).stem in INDEX_FIGURES:
            kind, prefixes = INDEX_FIGURES[Path(result.job.notebook).stem]
            shown = {"figures": section.figures, "attribution": section.attribution,
                     "composed": section.composed_figures}[kind]
            shown += [p for p in pngs if p.stem.startswith(prefixes)]
        if result.job.notebook.startswith("05") and (folder / "results.csv").is_file():
            section.composed.append((result, pd.read_csv(folder / "results.csv", dtype={"subset": str},
                                                         keep_default_na=False)))
        if result.job.notebook.startswith("03") and (folder / "runs.csv").is_file():
            section.evaluations.append((result, _read_runs(folder / "runs.csv"), record))
            if (folder / "cross_notion.csv").is_file():
                matrix = pd.read_csv(folder / "cross_notion.csv", index_col=0)
                section.claims.append("Cross-notion matrix (the notion spaces of InDiReCT, MAP@R, mean over seeds), "
                                      "as measured: " + describe_cross_notion(matrix))
        if result.job.notebook.startswith("04") and (folder / "mask_share.csv").is_file():
            section.attribution_claims.append(describe_mask_share(pd.read_csv(folder / "mask_share.csv")))
    return list(sections.values())


def _read_runs(path: Path) -> pd.DataFrame:
    runs = pd.read_csv(path, keep_default_na=True).drop(columns=["weights"], errors="ignore")
    runs["note"] = runs["note"].astype(object).where(runs["note"].notna(), "")
    return runs


def _overlap_notes(record: dict) -> dict[str, list[str]]:
    """Per notion: how many prompt words equal an evaluation label (from the evaluation's provenance)."""
    from ..data.notions import describe_overlap

    overlaps = record.get("settings", {}).get("prompt_label_overlap") or {}
    return {notion: [f"prompt words: {describe_overlap(o)}"] for notion, o in overlaps.items()}


def write_analysis_figures(run_dir: Path, plan: dict, results: Sequence) -> list[Path]:
    """Figures across jobs: the metric against the swept setting, or against the backbone when several ran."""
    import matplotlib.pyplot as plt

    from . import plots

    sweep_key = next(iter(plan.get("sweep") or {}), None)
    by_backbone = len(plan.get("backbones", [])) > 1
    if not sweep_key and not by_backbone:
        return []
    frames = []
    for result in results:
        runs_csv = run_dir / result.job.id / "runs.csv"
        if result.job.notebook.startswith("03") and runs_csv.is_file():
            runs = pd.read_csv(runs_csv)
            runs["dataset"] = result.job.parameters["dataset"]
            runs["backbone"] = result.job.parameters["backbone"]
            if sweep_key:
                runs[sweep_key] = result.job.parameters[sweep_key]
            frames.append(runs)
    if not frames:
        return []
    runs = pd.concat(frames, ignore_index=True)
    caveat = next(iter(runs["weights"].dropna()), None) if "weights" in runs.columns else None
    x, label = (sweep_key, {"n_components": "embedding size", "n_prompts": "number of prompts"}[sweep_key]) \
        if sweep_key else ("backbone", "CLIP backbone")
    written = []
    for (dataset, backbone), part in runs.groupby(["dataset", "backbone"] if sweep_key else ["dataset", "dataset"]):
        fig = plots.plot_sweep(part, x, x_label=label, caveat=caveat)
        name = f"analysis_{slug(dataset)}" + (f"_{slug(backbone)}" if sweep_key else "")
        stem = run_dir / "figures" / name
        written += [p for p in plots.save_figure(fig, stem) if p.suffix == ".png"]
        plt.close(fig)
    return written


def _switches(parameters: dict) -> str:
    """The settings behind a table: backbone, k, prompts, model switches, dataset options."""
    model_options = parameters.get("model_options") or {}
    dataset_options = parameters.get("dataset_options") or {}
    parts = [f"backbone {parameters.get('backbone')}", f"k={parameters.get('n_components')}",
             f"{parameters.get('repetitions')} seed(s)"]
    if parameters.get("n_prompts"):
        parts.append(f"n_prompts={parameters['n_prompts']}")
    parts.append(f"prompt words: {parameters.get('prompt_words', 'all')}")
    parts.append("dataset options: " + (", ".join(f"{k}={v}" for k, v in dataset_options.items()) or "defaults"))
    parts.append("model switches: " + (", ".join(f"{display_name(m) if m in MODELS else m}: {o}"
                                                for m, o in model_options.items())
                                       or "none (the authors' procedures, docs/PROTOCOL.md)"))
    return "; ".join(parts)


def _composed_title(section: _Section) -> str:
    """"Composed retrieval" for an evaluation section, "Mapper training" for the training jobs' section."""
    return "Composed retrieval" if section.composed or not section.prefix.startswith("composed/") \
        else "Mapper training"


def _composed_settings(parameters: dict) -> str:
    """The settings behind a composed-retrieval table: backbone, split, methods and where each mapper came from."""
    parts = [f"backbone {parameters.get('backbone')}", f"split {parameters.get('split') or 'default'}"]
    mappers = parameters.get("mappers") or {}
    for method, path in mappers.items():
        origin = "trained in this run (notebook 06)" if "/06_train-" in str(path) else f"checkpoint {path}"
        parts.append(f"{method_name(method) if method in MAPPER_METHODS else method}: {origin}")
    if any(str(m).startswith("notion-composed") for m in parameters.get("methods") or []):
        parts.append(f"InDiReCT-CIR: solver {parameters.get('solver', 'indirect')}, "
                     f"k={parameters.get('n_components', 128)} per notion")
    options = parameters.get("benchmark_options") or {}
    parts.append("benchmark options: " + (", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"))
    return "; ".join(parts)


def _notion_composed_tables(folder: Path) -> tuple[list[str], list[str]]:
    """InDiReCT-CIR's extra tables of a notebook-05 job, where it wrote them: its notion spaces' prompts, its
    routing accuracy and every method's scores by changed factor(s)."""
    parts: list[str] = []
    lines: list[str] = []
    read = {name: pd.read_csv(folder / name, dtype={"subset": str}, keep_default_na=False)
            for name in (NOTIONS_FILE, ROUTING_FILE, BY_CHANGED_FILE) if (folder / name).is_file()}
    if NOTIONS_FILE in read:
        parts += ["<h4>InDiReCT-CIR's notion spaces (fitted on these prompts only)</h4>",
                  notions_html(read[NOTIONS_FILE])]
        lines += ["#### InDiReCT-CIR's notion spaces (fitted on these prompts only)", "",
                  notions_markdown(read[NOTIONS_FILE]), ""]
    if ROUTING_FILE in read:
        title = "Routing accuracy: share of queries whose changed factors automatic routing finds exactly"
        parts += [f"<h4>{title}</h4>", f"<div class='scroll'>{routing_html(read[ROUTING_FILE])}</div>"]
        lines += [f"#### {title}", "", routing_markdown(read[ROUTING_FILE]), ""]
    if BY_CHANGED_FILE in read:
        table = breakdown_table(read[BY_CHANGED_FILE])
        verdict = winners(read[BY_CHANGED_FILE])
        parts += ["<h4>By changed factor(s)</h4>", f"<p>{html.escape(verdict)}</p>",
                  f"<div class='scroll'>{composed_html(table)}</div>"]
        lines += ["#### By changed factor(s)", "", verdict, "", composed_markdown(table, marked=False), ""]
    return parts, lines


def _time_table(section: _Section) -> tuple[str, list[str]]:
    """Where the time went: seconds per job, and fit seconds per model summed over notions and seeds."""
    rows = "".join(f"<tr><td>{html.escape(r.job.id.rsplit('/', 1)[1])}</td><td class='num'>{r.seconds:.0f}</td></tr>"
                   for r in section.jobs)
    text = ["| job | seconds |", "|---|---:|"] + [f"| {r.job.id.rsplit('/', 1)[1]} | {r.seconds:.0f} |"
                                                  for r in section.jobs]
    parts = [f"<table class='jobs'><tr><th>job</th><th>seconds</th></tr>{rows}</table>"]
    for result, runs, record in section.evaluations:
        if "fit_seconds" not in runs.columns:
            continue
        spent = runs.groupby("model", sort=False)[["fit_seconds", "evaluate_seconds"]].sum()
        workers = record.get("settings", {}).get("fit_workers") or 0
        in_workers = [display_name(key) for key in spent.index if key in MODELS and MODELS[key].parallel_fit]
        names = ", ".join(in_workers[:-1]) + " and " + in_workers[-1] if len(in_workers) > 1 else "".join(in_workers)
        where = f" (fits of {names} ran in {workers} worker processes)" if workers > 1 and in_workers else ""
        spent.index = [display_name(key) if key in MODELS else key for key in spent.index]
        body = "".join(f"<tr><td>{html.escape(model)}</td><td class='num'>{row.fit_seconds:.1f}</td>"
                       f"<td class='num'>{row.evaluate_seconds:.1f}</td></tr>" for model, row in spent.iterrows())
        parts.append(f"<p class='muted'>{html.escape(result.job.id.rsplit('/', 1)[1])}: seconds per model, summed "
                     f"over notions and seeds{html.escape(where)}</p><table class='jobs'><tr><th>model</th>"
                     f"<th>fit s</th><th>evaluation s</th></tr>{body}</table>")
        text += ["", "| model | fit s | evaluation s |", "|---|---:|---:|"] + [
            f"| {model} | {row.fit_seconds:.1f} | {row.evaluate_seconds:.1f} |" for model, row in spent.iterrows()]
    return "\n".join(parts), text


def _run_time(run_dir: Path, results: Sequence) -> str:
    """Wall time from the first job's start to the last job's end, and the summed notebook time."""
    spans = []
    for result in results:
        status = _read_json(run_dir / result.job.id / "status.json")
        if "started" in status:
            spans.append((status["started"], status["started"] + status.get("seconds", 0)))
    total = sum(r.seconds for r in results)
    if not spans:
        return f"{total:.0f} s of notebook time"
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return f"{wall / 60:.1f} min wall time, {total / 60:.1f} min of notebook time"


def _figure(figure: Path, run_dir: Path) -> tuple[str, str]:
    """A figure at its print size (PNGs are saved at 300 dpi and shown at 150 px per inch), never wider than
    the page, captioned with its job and the caption its plot helper gave it (its file name if it has none)."""
    from PIL import Image

    from .plots import figure_caption

    relative = figure.relative_to(run_dir).as_posix()
    caption = f"{figure.parent.parent.name}: {figure_caption(figure) or figure.stem.replace('_', ' ')}"
    try:
        with Image.open(figure) as image:
            width = f" style='width:{image.width // 2}px'"
    except OSError:
        width = ""
    return (f"<figure><img src='{html.escape(relative)}' alt='{html.escape(caption)}'{width}>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>", f"![{caption}]({relative})")


def write_index(run_dir: Path, plan: dict, results: Sequence, figures_dir: Path | None = None,
                extra_sections: Sequence[tuple[str, str, str, list[str]]] = ()) -> Path:
    """Write index.html and README.md into the run folder; copy the key figures (PNG + PDF) to figures_dir.

    ``extra_sections``: (prefix, title, html, markdown lines) blocks added to a dataset's section, e.g. the
    composed-retrieval results.
    """
    run_dir = Path(run_dir)
    caveat = run_caveat(run_dir)
    sections = _sections(run_dir, results)
    analysis = write_analysis_figures(run_dir, plan, results)
    extras: dict[str, list] = {}
    for prefix, title, block, lines in extra_sections:
        extras.setdefault(prefix, []).append((title, block, lines))
        if prefix not in {s.prefix for s in sections}:
            sections.append(_Section(prefix))
    created = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    timing = _run_time(run_dir, results)
    failed = [r for r in results if r.state in ("failed", "blocked")]

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(plan['name'])}</title>",
             f"<style>{STYLE}{TABLE_STYLE}</style></head><body>", f"<h1>Run: {html.escape(plan['name'])}</h1>",
             f"<p class='muted'>{created} · {len(results)} notebook job(s) · {timing}"
             + (f" · <span class='failed'>{len(failed)} failed or blocked</span>" if failed else "") + "</p>"]
    markdown = [f"# Run: {plan['name']}", "", f"{created} · {len(results)} notebook job(s) · {timing}", ""]
    if caveat:
        parts.append(banner_html(caveat))
        markdown += [f"> **{banner_text(caveat)}**", ""]
    toc = ["<nav><strong>Contents</strong><ul>"]
    for section in sections:
        anchor = slug(section.prefix)
        items = [("results", "Results")] if section.evaluations else []
        items += [("figures", "Figures")] if section.figures else []
        items += [("attribution", "Attribution")] if section.attribution else []
        items += [("composed", _composed_title(section))] if section.composed or section.composed_figures else []
        items += [(slug(title), title) for title, _, _ in extras.get(section.prefix, [])]
        items += [("time", "Time")] if section.jobs else []
        links = " · ".join(f"<a href='#{anchor}-{key}'>{name}</a>" for key, name in items)
        toc.append(f"<li><a href='#{anchor}'>{html.escape(section.prefix)}</a>: {links}</li>")
    if analysis:
        toc.append("<li><a href='#analyses'>Analyses</a></li>")
    toc.append("<li><a href='#notebooks'>Notebooks</a></li></ul></nav>")
    parts += toc

    for section in sections:
        anchor = slug(section.prefix)
        parts.append(f"<h2 id='{anchor}'>{html.escape(section.prefix)}</h2>")
        markdown += [f"## {section.prefix}", ""]
        if section.evaluations:
            parts.append(f"<h3 id='{anchor}-results'>Results (mean ± population std over seeds)</h3>")
            markdown += ["### Results (mean ± population std over seeds)", ""]
        for result, runs, record in section.evaluations:
            notes = _overlap_notes(record)
            switches = _switches(result.job.parameters)
            summary = summarize(runs)
            parts += [f"<p class='muted'>{html.escape(result.job.id.rsplit('/', 1)[1])}: {html.escape(switches)}</p>",
                      f"<div class='scroll'>{to_html(summary, notes=notes)}</div>"]
            markdown += [f"_{result.job.id.rsplit('/', 1)[1]}: {switches}_", "",
                         to_markdown(summary, caveat=None, notes=notes), ""]
        if section.skipped:
            items = "".join(f"<li><code>{html.escape(p)}</code>: {html.escape(why)}</li>"
                            for p, why in sorted(section.skipped.items()))
            parts.append(f"<p><strong>{len(section.skipped)} unreadable image(s) left out</strong> "
                         f"(<code>on_error: skip</code>):</p><ul>{items}</ul>")
            markdown += [f"**{len(section.skipped)} unreadable image(s) left out** (`on_error: skip`):", ""] + [
                f"- `{p}`: {why}" for p, why in sorted(section.skipped.items())] + [""]
        for key, title, figures, claims in (("figures", "Figures", section.figures, section.claims),
                                            ("attribution", "Attribution", section.attribution,
                                             section.attribution_claims)):
            if figures:
                parts.append(f"<h3 id='{anchor}-{key}'>{title}</h3>")
                markdown += [f"### {title}", ""]
                for claim in claims:
                    parts.append(f"<p>{html.escape(claim)}</p>")
                    markdown += [claim, ""]
                for figure in figures:
                    block, line = _figure(figure, run_dir)
                    parts.append(block)
                    markdown += [line, ""]
        if section.composed or section.composed_figures:
            parts.append(f"<h3 id='{anchor}-composed'>{_composed_title(section)}</h3>")
            markdown += [f"### {_composed_title(section)}", ""]
            for result, table in section.composed:
                settings = _composed_settings(result.job.parameters)
                parts += [f"<p class='muted'>{html.escape(settings)}</p>",
                          f"<div class='scroll'>{composed_html(table)}</div>"]
                markdown += [f"_{settings}_", "", composed_markdown(table, marked=False), ""]
                block, lines = _notion_composed_tables(run_dir / result.job.id)
                parts += block
                markdown += lines
            for figure in section.composed_figures:
                block, line = _figure(figure, run_dir)
                parts.append(block)
                markdown += [line, ""]
        for title, block, lines in extras.get(section.prefix, []):
            parts += [f"<h3 id='{anchor}-{slug(title)}'>{html.escape(title)}</h3>", block]
            markdown += [f"### {title}", "", *lines, ""]
        if section.jobs:
            block, lines = _time_table(section)
            parts += [f"<h3 id='{anchor}-time'>Time</h3>", block]
            markdown += ["### Time", "", *lines, ""]

    if analysis:
        parts.append("<h2 id='analyses'>Analyses</h2>")
        markdown += ["## Analyses", ""]
        for figure in analysis:
            block, line = _figure(figure, run_dir)
            parts.append(block)
            markdown += [line, ""]

    parts.append("<h2 id='notebooks'>Notebooks</h2><table class='jobs'><tr><th>job</th><th>state</th>"
                 "<th>seconds</th><th>page</th><th>notebook</th><th>error</th></tr>")
    markdown += ["## Notebooks", "", "| job | state | seconds | page | notebook | error |",
                 "|---|---|---:|---|---|---|"]
    for result in results:
        notebook = f"{result.job.id}/{result.job.notebook}"
        page = notebook.removesuffix(".ipynb") + ".html"
        has_page = (run_dir / page).is_file()
        error = ""
        if result.state in ("failed", "blocked"):
            error = f"{result.error.get('ename', '')}: {result.error.get('evalue', '')}".strip(": ")
            if "cell_index" in result.error:
                error += f" (cell {result.error['cell_index']})"
        css = "failed" if result.state in ("failed", "blocked") else "ok"
        page_link = f"<a href='{html.escape(page)}'>HTML</a>" if has_page else ""
        parts.append(f"<tr><td>{html.escape(result.job.id)}</td><td class='{css}'>{result.state}</td>"
                     f"<td class='num'>{result.seconds:.0f}</td><td>{page_link}</td>"
                     f"<td><a href='{html.escape(notebook)}'>{html.escape(result.job.notebook)}</a></td>"
                     f"<td>{html.escape(error)}</td></tr>")
        markdown.append(f"| {result.job.id} | {result.state} | {result.seconds:.0f} | "
                        + (f"[HTML]({page})" if has_page else "") +
                        f" | [{result.job.notebook}]({notebook}) | {error.replace('|', '/')} |")
    parts.append("</table></body></html>")
    index = write_text_atomic(run_dir / "index.html", "\n".join(parts))
    write_text_atomic(run_dir / "README.md", "\n".join(markdown) + "\n")
    if figures_dir is not None:
        figures = [f for s in sections for f in (*s.figures, *s.attribution, *s.composed_figures)] + analysis
        _copy_figures(figures, run_dir, Path(figures_dir) / plan["name"])
    return index


def _copy_figures(figures: Sequence[Path], run_dir: Path, target: Path) -> None:
    """Copy key figures (PNG and PDF siblings) to the top-level figures folder, named after their job."""
    target.mkdir(parents=True, exist_ok=True)
    for png in figures:
        origin = png.parent.parent.relative_to(run_dir).as_posix()
        job = "run" if origin in ("", ".") else origin.replace("/", "_")
        for source in (png, png.with_suffix(".pdf")):
            if source.is_file():
                shutil.copyfile(source, target / f"{job}_{source.name}")
