"""Experiment runner, summaries (population std), tables (Markdown/LaTeX) and the random-weights marker."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import indirect_core as ic
from indirect_core.analysis.experiment import run_notion, summarize
from indirect_core.report.tables import to_latex, to_markdown


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
    assert set(ic.core.metrics.METRICS) <= set(runs.columns)
    pca = runs[runs.model == "pca"]
    assert pca[list(ic.core.metrics.METRICS)].isna().all().all() and "at least 4 prompts, got 3" in pca.note.iloc[0]
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


def _planted_summary():
    """Two notions; on 'colour' InDiReCT is best except MAP where CLIP ties it when rounded; the Oracle beats
    everything (and must not be bolded); PCA could not be fitted on 'colour'."""
    rows = []
    means = {"clip": 0.40, "indirect": 0.70, "pca": float("nan"), "oracle": 0.95}
    for notion in ("colour", "shape"):
        for key, mean in means.items():
            for seed, shift in ((0, -0.01), (1, 0.01)):
                value = mean + shift if notion == "colour" else 0.5 + 0.1 * (key == "clip") + shift
                row = {"notion": notion, "model": key, "seed": seed, "note": ""}
                row.update({m: value for m in ic.core.metrics.METRICS})
                if key == "pca":
                    row.update({m: float("nan") for m in ic.core.metrics.METRICS})
                    row["note"] = "PCA with n_components=128 needs at least 128 prompts, got 17"
                rows.append(row)
    runs = pd.DataFrame(rows)
    runs.loc[(runs.notion == "colour") & (runs.model == "clip"), "mean_average_precision"] = [0.6995, 0.7]
    return summarize(runs)


def test_tables_bold_the_best_zero_shot_value_and_set_the_oracle_apart():
    summary = _planted_summary()
    markdown = to_markdown(summary, caveat=None, title="toy", notes={"colour": ["17 of 17 words"]})
    colour = markdown.split("### colour")[1].split("### shape")[0]
    lines = [line for line in colour.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0] for line in lines] == [
        "| CLIP", "| InDiReCT", "| PCA", "| _Oracle (supervised upper bound)_"]
    indirect = lines[1].split(" | ")[1:]
    assert indirect[0] == "**0.700** ± 0.010"  # AMI: InDiReCT best
    assert lines[0].split(" | ")[3] == "**0.700** ± 0.000" and indirect[2] == "**0.700** ± 0.010"  # MAP tie
    assert "**" not in lines[3] and "0.950 ± 0.010" in lines[3]  # the upper bound is never bolded
    assert lines[2].count("n/a¹") == 7 and "¹ n/a: PCA with n_components=128 needs at least 128 prompts" in markdown
    assert "- 17 of 17 words" in colour and ic.report.tables.SOLVER_LEGEND in markdown
    without_indirect = summary.drop(index="indirect", level="model")
    assert ic.report.tables.SOLVER_LEGEND not in to_markdown(without_indirect, caveat=None)
    shape = markdown.split("### shape")[1]
    assert "| CLIP | **0.600** ± 0.010" in shape and "| InDiReCT | 0.500 ± 0.010" in shape
    html = ic.report.tables.to_html(summary)
    assert html.count("class='mean best'") == 7 + 1 + 7  # colour: InDiReCT ×7 + CLIP's MAP tie; shape: CLIP ×7
    assert "class='upper-bound'" in html and "n/a¹" in html
    latex = to_latex(summary, caveat=None)
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(l){2-9}", r"\begin{tabular}{llccccccc}"):
        assert command in latex
    assert r"\textbf{0.700} $\pm$ 0.010" in latex and r"n/a$^{1}$" in latex and "MAP@R" in latex


def test_random_weights_marker_is_visible_everywhere(runs):
    summary = summarize(runs)
    assert "RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT" in to_markdown(summary, caveat=ic.backbone.RANDOM_WEIGHTS_MARKER)
    latex = to_latex(summary, caveat=ic.backbone.RANDOM_WEIGHTS_MARKER)
    assert r"\caption{" in latex and "RANDOM WEIGHTS: PIPELINE CHECK, NOT A RESULT" in latex


def test_runner_rejects_bad_arguments():
    texts, images, labels = _inputs()
    with pytest.raises(ic.ConfigError, match="unknown model"):
        run_notion("toy", texts, images, labels, models=["umap"], progress=False)
    with pytest.raises(ic.ConfigError, match="seeds is empty"):
        run_notion("toy", texts, images, labels, models=["clip"], seeds=[], progress=False)
    with pytest.raises(ic.ConfigError, match="60 image features but 3 labels"):
        run_notion("toy", texts, images, labels[:3], models=["clip"], progress=False)


def test_fits_in_worker_processes_give_the_same_table_as_one_process():
    from indirect_core.analysis.experiment import parallel_fits

    texts, images, labels = _inputs()
    options = {"indirect": {"max_iter": 120}, "lae": {"max_iter": 80}, "oracle": {"max_iter": 80}}
    kwargs = dict(models=["clip", "indirect", "lae", "oracle"], seeds=[0, 1], n_components=3,
                  model_options=options, progress=False)
    alone = run_notion("toy", texts, images, labels, **kwargs)
    kept: dict = {}
    with parallel_fits(2) as pool:
        assert pool is not None
        parallel = run_notion("toy", texts, images, labels, executor=pool, keep=kept, **kwargs)
    metrics = list(ic.core.metrics.METRICS)
    assert np.array_equal(alone[metrics].to_numpy(), parallel[metrics].to_numpy())
    assert alone.n_iter.fillna(-1).tolist() == parallel.n_iter.fillna(-1).tolist() and alone.n_iter.iloc[2] == 120
    assert (parallel.fit_seconds[2:] > 0).all() and (parallel.evaluate_seconds > 0).all()
    # the kept models are the first seed's, exactly as evaluated
    embedding = kept["indirect"].transform(images)
    assert ic.evaluate(embedding, labels)["precision_at_1"] == parallel.precision_at_1.iloc[2]
    with pytest.raises(ic.ConfigError, match="n_jobs=0"):
        with parallel_fits(0):
            pass
