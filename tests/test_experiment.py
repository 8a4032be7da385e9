"""Experiment runner, summaries (population std), tables (Markdown/LaTeX) and the random-weights marker."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import indirect_core as ic
from indirect_core.experiment import run_notion, summarize
from indirect_core.tables import to_latex, to_markdown


def _inputs():
    """Three well-separated classes of 20 images; one prompt per class near its centre."""
    g = torch.Generator().manual_seed(0)
    labels = np.repeat(["a", "b", "c"], 20)
    centres = torch.randn(3, 32, generator=g)
    images = centres[np.unique(labels, return_inverse=True)[1]] + 0.5 * torch.randn(60, 32, generator=g)
    texts = centres + 0.1 * torch.randn(3, 32, generator=g)
    return texts, images, labels


@pytest.fixture(scope="module")
def runs():
    return run_notion("toy", *_inputs(), models=["random", "clip", "indirect", "pca", "randtransform"],
                      seeds=[0, 1, 2], n_components=4, progress=False)


def test_one_row_per_model_and_seed_with_all_metrics(runs):
    assert len(runs) == 15 and list(runs.columns[:3]) == ["notion", "model", "seed"]
    assert set(ic.METRICS) <= set(runs.columns)
    pca = runs[runs.model == "pca"]
    assert pca[list(ic.METRICS)].isna().all().all() and "at least 4 prompts, got 3" in pca.note.iloc[0]
    random = runs[runs.model == "random"]
    assert random["precision_at_1"].nunique() > 1  # seeds drive the random baseline
    again = run_notion("toy", *_inputs(), models=["random"], seeds=[0, 1, 2], n_components=4, progress=False)
    assert np.allclose(again["precision_at_1"], random["precision_at_1"])


def test_summary_uses_population_std(runs):
    summary = summarize(runs)
    values = runs[runs.model == "random"]["mean_average_precision"].to_numpy()
    assert summary.loc[("toy", "random"), ("mean_average_precision", "mean")] == pytest.approx(values.mean())
    assert summary.loc[("toy", "random"), ("mean_average_precision", "std")] == pytest.approx(values.std(ddof=0))
    assert [m for _, m in summary.index] == ["random", "clip", "indirect", "randtransform", "pca"]  # paper order


def test_markdown_and_latex_tables(runs):
    summary = summarize(runs)
    markdown = to_markdown(summary, random_weights=False, title="toy")
    assert "| InDiReCT" in markdown and "MAP@R" in markdown and "R-Prec" in markdown
    mean = summary.loc[("toy", "clip"), ("mean_average_precision_at_r", "mean")]
    std = summary.loc[("toy", "clip"), ("mean_average_precision_at_r", "std")]
    assert f"{mean:.3f} ± {std:.3f}" in markdown
    assert "n/a" in markdown and "random weights" not in markdown.lower()
    latex = to_latex(summary, random_weights=False)
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}"):
        assert command in latex
    assert f"{mean:.3f} $\\pm$ {std:.3f}" in latex and "Rand. transform" in latex


def test_random_weights_marker_is_visible_everywhere(runs):
    summary = summarize(runs)
    assert "RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT" in to_markdown(summary, random_weights=True)
    latex = to_latex(summary, random_weights=True)
    assert r"\caption{" in latex and "RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT" in latex


def test_runner_rejects_bad_arguments():
    texts, images, labels = _inputs()
    with pytest.raises(ic.ConfigError, match="unknown model"):
        run_notion("toy", texts, images, labels, models=["umap"], progress=False)
    with pytest.raises(ic.ConfigError, match="seeds is empty"):
        run_notion("toy", texts, images, labels, models=["clip"], seeds=[], progress=False)
    with pytest.raises(ic.ConfigError, match="60 image features but 3 labels"):
        run_notion("toy", texts, images, labels[:3], models=["clip"], progress=False)
