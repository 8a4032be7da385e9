"""A study's result files (runs, summary, Markdown and LaTeX tables, provenance), and ``run_study``: the whole
job of ``python -m indirect_core experiment`` (backbone, dataset, cached features, evaluation, files)."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._util.atomic import write_json_atomic, write_text_atomic
from .._util.validation import check_int
from ..analysis.experiment import DEFAULT_MODELS
from ..analysis.provenance import provenance
from ..analysis.study import StudyResult, evaluate_notions, resolve_notions
from ..backbone import load_backbone
from ..data.datasets import load_dataset
from ..data.notions import Notion, describe_overlap
from ..features.cache import image_features
from .tables import to_latex, to_markdown


def write_results(result: StudyResult, out: str | Path, title: str, **extra_provenance: Any) -> Path:
    """runs.csv, summary.csv, results.md, results.tex and provenance.json, each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "runs.csv", result.runs.to_csv(index=False))
    flat = result.summary.copy()
    flat.columns = [f"{metric}_{stat}" if stat else metric for metric, stat in flat.columns]
    if result.caveat:
        flat.insert(0, "weights", result.caveat)
    write_text_atomic(out / "summary.csv", flat.to_csv())
    notes = {notion: [f"Prompt words: {describe_overlap(overlap)}"
                      + (f"; {overlap['n_words_used']} used (strict)" if result.settings.get("prompt_words") ==
                         "strict" else "")] for notion, overlap in result.overlaps.items()}
    write_text_atomic(out / "results.md", to_markdown(result.summary, result.caveat, title=title,
                                                      notes=notes) + "\n")
    write_text_atomic(out / "results.tex", to_latex(result.summary, result.caveat, caption=title))
    settings = {k: v for k, v in result.settings.items() if k != "seeds"}
    write_json_atomic(out / "provenance.json", provenance(
        result.backbone, result.dataset, result.settings["seeds"], result.prompts, **settings,
        prompt_label_overlap=result.overlaps, **extra_provenance))
    return out


def run_study(dataset: str = "synthetic-shapes", backbone: str = "auto",
              notions: Sequence[str | Notion] | None = None, models: Iterable[str] = DEFAULT_MODELS,
              seeds: Iterable[int] = range(5), n_components: int = 128, out: str | Path | None = None,
              data_root: str | Path | None = None, cache_dir: str | Path | None = None, device: str = "cpu",
              batch_size: int = 64, num_workers: int = 1, on_error: str = "raise",
              dataset_options: dict | None = None, progress: bool = True) -> Path:
    """Run every notion × model × seed on ``dataset``; write the tables and provenance into ``out``
    (default ``runs/<timestamp>``) and return that folder."""
    check_int("n_components", n_components, hint="the paper uses 128")
    data = load_dataset(dataset, root=data_root, **(dataset_options or {}))
    chosen = resolve_notions(dataset, data, notions)
    out = Path(out) if out else Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    clip_model = load_backbone(backbone, device=device, cache_dir=cache_dir)
    cached = image_features(clip_model, data, cache_dir=cache_dir, batch_size=batch_size,
                            num_workers=num_workers, on_error=on_error, progress=progress)
    data = cached.apply_to(data)
    result = evaluate_notions(clip_model, data, cached.features, chosen, models=models, seeds=seeds,
                              n_components=n_components, progress=progress)
    title = f"{dataset} with {clip_model.name}, k={n_components}, {len(result.settings['seeds'])} seed(s)"
    write_results(result, out, title, skipped_images=cached.skipped, feature_cache=str(cached.location),
                  dataset_options=dataset_options or {})
    if progress:
        print(to_markdown(result.summary, result.caveat, title=title))
        print(f"\nwrote {out}/results.md, results.tex, runs.csv, summary.csv, provenance.json")
    return out
