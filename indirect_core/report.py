"""The main job: the full InDiReCT experiment on one dataset, written as tables + provenance to a run folder."""
from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .atomic import write_json_atomic, write_text_atomic
from .backbone import RANDOM_WEIGHTS_MARKER, load_backbone
from .cache import image_features
from .datasets import load_dataset
from .errors import ConfigError
from .experiment import DEFAULT_MODELS, run_notion, summarize
from .notions import Notion, get_notion, notions_for
from .provenance import provenance
from .tables import to_latex, to_markdown


def run_report(dataset: str = "synthetic-shapes", backbone: str = "auto",
               notions: Sequence[str | Notion] | None = None,
               models: Iterable[str] = DEFAULT_MODELS, seeds: Iterable[int] = range(5), n_components: int = 128,
               out: str | Path | None = None, data_root: str | Path | None = None,
               cache_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
               num_workers: int = 0, on_error: str = "raise", dataset_options: dict | None = None,
               progress: bool = True) -> Path:
    """Run every notion × model × seed on ``dataset`` and write runs.csv, summary.csv, results.md,
    results.tex and provenance.json into ``out`` (default ``runs/<timestamp>``). Returns that folder.

    ``notions``: names registered for the dataset or ``Notion`` objects (a user's own prompts); default all.
    """
    models, seeds = list(models), list(seeds)
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise ConfigError(f"n_components={n_components!r} must be a positive integer")
    data = load_dataset(dataset, root=data_root, **(dataset_options or {}))
    chosen = [n if isinstance(n, Notion) else get_notion(dataset, n) for n in notions] if notions \
        else notions_for(dataset)
    if not chosen:
        raise ConfigError(f"dataset {dataset!r} has no registered notions: describe one with a prompt template "
                          "and a word file (CLI: --template 'a photo of a {}' --words words.txt "
                          "--label-column label)")
    for notion in chosen:
        notion.labels(data)  # fails now, naming the column, rather than after the images are embedded
    out = Path(out) if out else Path("runs") / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    clip_model = load_backbone(backbone, device=device, cache_dir=cache_dir)
    cached = image_features(clip_model, data, cache_dir=cache_dir, batch_size=batch_size,
                            num_workers=num_workers, on_error=on_error, progress=progress)
    data = cached.apply_to(data)
    runs, prompts = [], {}
    for notion in chosen:
        prompts[notion.name] = notion.prompts
        text_features = clip_model.encode_texts(notion.prompts)
        runs.append(run_notion(notion.name, text_features, cached.features, notion.labels(data), models=models,
                               seeds=seeds, n_components=n_components, progress=progress))
    all_runs = pd.concat(runs, ignore_index=True)
    random_weights = clip_model.random_weights
    if random_weights:
        all_runs.insert(0, "weights", RANDOM_WEIGHTS_MARKER)
    summary = summarize(all_runs.drop(columns=["weights"], errors="ignore"))
    title = f"{dataset} with {clip_model.name}, k={n_components}, {len(seeds)} seed(s)"
    markdown = to_markdown(summary, random_weights, title=title)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "runs.csv", all_runs.to_csv(index=False))
    flat = summary.copy()
    flat.columns = [f"{metric}_{stat}" if stat else metric for metric, stat in flat.columns]
    if random_weights:
        flat.insert(0, "weights", RANDOM_WEIGHTS_MARKER)
    write_text_atomic(out / "summary.csv", flat.to_csv())
    write_text_atomic(out / "results.md", markdown + "\n")
    write_text_atomic(out / "results.tex", to_latex(summary, random_weights, caption=title))
    write_json_atomic(out / "provenance.json", provenance(
        clip_model.identity(), cached.dataset, seeds, prompts, models=models, n_components=n_components,
        notions=[n.name for n in chosen], skipped_images=cached.skipped, feature_cache=str(cached.location),
        dataset_options=dataset_options or {}))
    if progress:
        print(markdown, file=sys.stdout)
        print(f"\nwrote {out}/results.md, results.tex, runs.csv, summary.csv, provenance.json")
    return out
