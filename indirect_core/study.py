"""A study: one dataset's notions × models × seeds, written as tables + provenance into a folder.

``run_study`` is the whole job (load backbone, dataset, cached features, evaluate, write); notebooks call
``evaluate_notions`` and ``write_results`` on what they already loaded.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .atomic import write_json_atomic, write_text_atomic
from .backbone import Backbone, load_backbone
from .random_weights import RANDOM_WEIGHTS_MARKER
from .cache import image_features
from .datasets import Dataset, load_dataset
from .errors import ConfigError
from .experiment import DEFAULT_MODELS, run_notion, summarize
from .notions import Notion, get_notion, notions_for
from .provenance import provenance
from .tables import to_latex, to_markdown


@dataclass
class StudyResult:
    """Runs (one row per notion × model × seed), their summary, and what produced them."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    prompts: dict[str, list[str]]
    backbone: dict
    dataset: dict
    settings: dict = field(default_factory=dict)

    @property
    def random_weights(self) -> bool:
        return bool(self.backbone.get("random_weights"))


def evaluate_notions(backbone: Backbone, data: Dataset, features: torch.Tensor, notions: Sequence[Notion],
                     models: Iterable[str] = DEFAULT_MODELS, seeds: Iterable[int] = range(5),
                     n_components: int = 128, model_options: Mapping[str, Mapping[str, Any]] | None = None,
                     n_prompts: int | None = None, progress: bool = True) -> StudyResult:
    """Embed each notion's prompts, then run every model × seed on the image features.

    ``n_prompts``: use a random subset of that many prompts, drawn afresh for each seed (the paper's
    prompt analysis); ``None`` uses all prompts.
    """
    models, seeds = list(models), list(seeds)
    runs, prompts = [], {}
    for notion in notions:
        notion = notion.for_dataset(data)
        all_prompts = notion.prompts
        prompts[notion.name] = all_prompts
        if n_prompts is None:
            runs.append(run_notion(notion.name, backbone.encode_texts(all_prompts), features,
                                   notion.labels(data), models=models, seeds=seeds, n_components=n_components,
                                   model_options=model_options, progress=progress))
            continue
        if n_prompts > len(all_prompts):
            raise ConfigError(f"n_prompts={n_prompts} but notion {notion.name!r} has only {len(all_prompts)} "
                              "prompts: choose a smaller n_prompts")
        for seed in seeds:
            chosen = np.random.default_rng(seed).choice(len(all_prompts), n_prompts, replace=False)
            subset = [all_prompts[i] for i in sorted(chosen)]
            prompts[f"{notion.name} (seed {seed})"] = subset
            runs.append(run_notion(notion.name, backbone.encode_texts(subset), features, notion.labels(data),
                                   models=models, seeds=[seed], n_components=n_components,
                                   model_options=model_options, progress=progress))
    all_runs = pd.concat(runs, ignore_index=True)
    summary = summarize(all_runs)
    if backbone.random_weights:
        all_runs.insert(0, "weights", RANDOM_WEIGHTS_MARKER)
    settings = {"models": models, "seeds": seeds, "n_components": n_components, "n_prompts": n_prompts,
                "notions": [n.name for n in notions], "model_options": dict(model_options or {})}
    return StudyResult(all_runs, summary, prompts, backbone.identity(), data.identity(), settings)


def write_results(result: StudyResult, out: str | Path, title: str, **extra_provenance: Any) -> Path:
    """runs.csv, summary.csv, results.md, results.tex and provenance.json, each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "runs.csv", result.runs.to_csv(index=False))
    flat = result.summary.copy()
    flat.columns = [f"{metric}_{stat}" if stat else metric for metric, stat in flat.columns]
    if result.random_weights:
        flat.insert(0, "weights", RANDOM_WEIGHTS_MARKER)
    write_text_atomic(out / "summary.csv", flat.to_csv())
    write_text_atomic(out / "results.md", to_markdown(result.summary, result.random_weights, title=title) + "\n")
    write_text_atomic(out / "results.tex", to_latex(result.summary, result.random_weights, caption=title))
    settings = {k: v for k, v in result.settings.items() if k != "seeds"}
    write_json_atomic(out / "provenance.json", provenance(
        result.backbone, result.dataset, result.settings["seeds"], result.prompts, **settings,
        **extra_provenance))
    return out


def resolve_notions(dataset: str, data: Dataset, notions: Sequence[str | Notion] | None) -> list[Notion]:
    """Names registered for the dataset or Notion objects (default: all), checked against the labels table."""
    chosen = [n if isinstance(n, Notion) else get_notion(dataset, n) for n in notions] if notions \
        else notions_for(dataset)
    if not chosen:
        raise ConfigError(f"dataset {dataset!r} has no registered notions: describe one with a prompt template "
                          "and a word file (CLI: --template 'a photo of a {}' --words words.txt "
                          "--label-column label)")
    for notion in chosen:
        notion.labels(data)  # fails now, naming the column, rather than after the images are embedded
    return [notion.for_dataset(data) for notion in chosen]  # label-vocabulary notions take words from the data


def run_study(dataset: str = "synthetic-shapes", backbone: str = "auto",
              notions: Sequence[str | Notion] | None = None, models: Iterable[str] = DEFAULT_MODELS,
              seeds: Iterable[int] = range(5), n_components: int = 128, out: str | Path | None = None,
              data_root: str | Path | None = None, cache_dir: str | Path | None = None, device: str = "cpu",
              batch_size: int = 64, num_workers: int = 1, on_error: str = "raise",
              dataset_options: dict | None = None, progress: bool = True) -> Path:
    """Run every notion × model × seed on ``dataset``; write the tables and provenance into ``out``
    (default ``runs/<timestamp>``) and return that folder."""
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise ConfigError(f"n_components={n_components!r} must be a positive integer")
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
        print(to_markdown(result.summary, result.random_weights, title=title))
        print(f"\nwrote {out}/results.md, results.tex, runs.csv, summary.csv, provenance.json")
    return out
