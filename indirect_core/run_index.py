"""The run folder's front page: index.html and README.md with results, key figures and notebook links."""
from __future__ import annotations

import datetime as _dt
import html
import json
import shutil
from pathlib import Path
from typing import Sequence

import pandas as pd

from .atomic import write_text_atomic
from .random_weights import RANDOM_WEIGHTS_MARKER
from .experiment import summarize
from .naming import slug
from .tables import formatted

KEY_FIGURES = ("metric_bars", "metrics_grid", "neighbours", "attributions", "mask_share")
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}h1{margin-bottom:.2em}table{border-collapse:collapse;font-size:.85em;margin:1em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child,td:nth-child(2){text-align:left}
.banner{background:#b00020;color:#fff;padding:1em;font-weight:bold;font-size:1.2em;border-radius:4px}
.failed{color:#b00020}.ok{color:#1b7f3b}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
code{background:#f4f4f4;padding:0 .2em}
"""


def used_random_weights(run_dir: Path) -> bool:
    """Whether any job's provenance says it used random CLIP weights."""
    for path in run_dir.rglob("provenance.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("backbone", {}).get("random_weights") or record.get("WARNING") == RANDOM_WEIGHTS_MARKER:
            return True
    return False


def _results_tables(run_dir: Path, results: Sequence) -> list[tuple[str, pd.DataFrame]]:
    """The formatted mean ± std table of each evaluation job, recomputed from its runs.csv."""
    tables = []
    for result in results:
        runs_csv = run_dir / result.job.id / "runs.csv"
        if result.job.notebook.startswith("03") and runs_csv.is_file():
            runs = pd.read_csv(runs_csv, keep_default_na=True).drop(columns=["weights"], errors="ignore")
            runs["note"] = runs["note"].astype(object).where(runs["note"].notna(), "")
            tables.append((result.job.id, formatted(summarize(runs)), _switches(result.job.parameters)))
    return tables


def write_analysis_figures(run_dir: Path, plan: dict, results: Sequence) -> list[Path]:
    """Figures across jobs: the metric against the swept setting, or against the backbone when several ran."""
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
    random_weights = "weights" in runs.columns and runs["weights"].notna().any()
    x, label = (sweep_key, {"n_components": "embedding size", "n_prompts": "number of prompts"}[sweep_key]) \
        if sweep_key else ("backbone", "CLIP backbone")
    written = []
    for (dataset, backbone), part in runs.groupby(["dataset", "backbone"] if sweep_key else ["dataset", "dataset"]):
        fig = plots.plot_sweep(part, x, x_label=label, random_weights=random_weights)
        name = f"analysis_{slug(dataset)}" + (f"_{slug(backbone)}" if sweep_key else "")
        stem = run_dir / "figures" / name
        written += [p for p in plots.save_figure(fig, stem) if p.suffix == ".png"]
        plots.plt.close(fig)
    return written


def _switches(parameters: dict) -> str:
    """The settings that decide whether a table is paper-faithful: model switches and dataset options."""
    model_options = parameters.get("model_options") or {}
    dataset_options = parameters.get("dataset_options") or {}
    parts = [f"backbone {parameters.get('backbone')}", f"k={parameters.get('n_components')}"]
    if parameters.get("n_prompts"):
        parts.append(f"n_prompts={parameters['n_prompts']}")
    parts.append("dataset options: " + (", ".join(f"{k}={v}" for k, v in dataset_options.items()) or "defaults"))
    parts.append("model switches: " + (", ".join(f"{m}: {o}" for m, o in model_options.items())
                                       or "none (paper-faithful defaults, docs/PROTOCOL.md)"))
    return "; ".join(parts)


def _key_figures(run_dir: Path, results: Sequence) -> list[Path]:
    """PNG figures whose name starts with a key figure name, in job order."""
    found = []
    for result in results:
        folder = run_dir / result.job.id / "figures"
        for png in sorted(folder.glob("*.png")) if folder.is_dir() else []:
            if png.stem.startswith(KEY_FIGURES):
                found.append(png)
    return found


def write_index(run_dir: Path, plan: dict, results: Sequence, figures_dir: Path | None = None) -> Path:
    """Write index.html and README.md into the run folder; copy the key figures (PNG + PDF) to figures_dir."""
    random_weights = used_random_weights(run_dir)
    tables = _results_tables(run_dir, results)
    figures = write_analysis_figures(run_dir, plan, results) + _key_figures(run_dir, results)
    created = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    banner = (f"⚠ {RANDOM_WEIGHTS_MARKER.upper()}: at least one notebook ran with a randomly initialised CLIP. "
              "These numbers and figures check the pipeline; they are not results.")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(plan['name'])}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>Run: {html.escape(plan['name'])}</h1>",
             f"<p>{created} · {len(results)} notebook job(s)</p>"]
    markdown = [f"# Run: {plan['name']}", "", f"{created} · {len(results)} notebook job(s)", ""]
    if random_weights:
        parts.append(f"<div class='banner'>{html.escape(banner)}</div>")
        markdown += [f"> **{banner}**", ""]
    parts.append("<h2>Results (mean ± population std over seeds)</h2>")
    markdown += ["## Results (mean ± population std over seeds)", ""]
    for name, table, switches in tables:
        parts += [f"<h3>{html.escape(name)}</h3>", f"<p><small>{html.escape(switches)}</small></p>",
                  table.to_html(escape=True)]
        markdown += [f"### {name}", "", f"_{switches}_", "", table.to_markdown(), ""]
    if not tables:
        parts.append("<p>No evaluation finished.</p>")
        markdown += ["No evaluation finished.", ""]
    parts.append("<h2>Key figures</h2>")
    markdown += ["## Key figures", ""]
    for figure in figures:
        relative = figure.relative_to(run_dir).as_posix()
        caption = f"{_origin(figure, run_dir, plan['name'])}: {figure.stem}"
        parts.append(f"<figure><img src='{html.escape(relative)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        markdown += [f"![{caption}]({relative})", ""]
    parts.append("<h2>Notebooks</h2><table><tr><th>job</th><th>state</th><th>seconds</th><th>notebook</th>"
                  "<th>error</th></tr>")
    markdown += ["## Notebooks", "", "| job | state | seconds | notebook | error |", "|---|---|---|---|---|"]
    for result in results:
        notebook = f"{result.job.id}/{result.job.notebook}"
        error = ""
        if result.state in ("failed", "blocked"):
            error = f"{result.error.get('ename', '')}: {result.error.get('evalue', '')}".strip(": ")
            if "cell_index" in result.error:
                error += f" (cell {result.error['cell_index']})"
        css = "failed" if result.state in ("failed", "blocked") else "ok"
        parts.append(f"<tr><td>{html.escape(result.job.id)}</td><td class='{css}'>{result.state}</td>"
                     f"<td>{result.seconds:.0f}</td><td><a href='{html.escape(notebook)}'>"
                     f"{html.escape(result.job.notebook)}</a></td><td>{html.escape(error)}</td></tr>")
        markdown.append(f"| {result.job.id} | {result.state} | {result.seconds:.0f} | [{result.job.notebook}]"
                        f"({notebook}) | {error.replace('|', '/')} |")
    parts.append("</table></body></html>")
    index = write_text_atomic(run_dir / "index.html", "\n".join(parts))
    write_text_atomic(run_dir / "README.md", "\n".join(markdown) + "\n")
    if figures_dir is not None:
        _copy_figures(figures, run_dir, Path(figures_dir) / plan["name"])
    return index


def _origin(figure: Path, run_dir: Path, default: str) -> str:
    """The job a figure belongs to (its folder above figures/), or ``default`` for run-level figures."""
    origin = figure.parent.parent.relative_to(run_dir).as_posix()
    return default if origin in ("", ".") else origin


def _copy_figures(figures: Sequence[Path], run_dir: Path, target: Path) -> None:
    """Copy key figures (PNG and PDF siblings) to the top-level figures folder, named after their job."""
    target.mkdir(parents=True, exist_ok=True)
    for png in figures:
        job = _origin(png, run_dir, "run").replace("/", "_")
        for source in (png, png.with_suffix(".pdf")):
            if source.is_file():
                shutil.copyfile(source, target / f"{job}_{source.name}")
