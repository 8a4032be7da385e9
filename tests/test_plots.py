"""Figures: every helper returns a Figure, bars show the summary exactly in the fixed model colours, files are
written atomically, random-weight figures carry the banner, and bad inputs raise ConfigError."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from indirect_core.report import plots  # noqa: E402
from indirect_core.backbone import RANDOM_WEIGHTS_MARKER  # noqa: E402
from indirect_core._util.errors import ConfigError  # noqa: E402
from indirect_core.analysis.experiment import summarize  # noqa: E402
from indirect_core.core.metrics import METRICS, SHORT_NAMES  # noqa: E402
from indirect_core.core.models import MODELS, display_name  # noqa: E402

NOTIONS = ("shape", "object colour")
BANNER = RANDOM_WEIGHTS_MARKER.upper()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    """summarize() of fake runs: 2 notions × 8 models × 3 seeds; PCA could not be fitted for 'shape'."""
    rng = np.random.default_rng(0)
    rows = []
    for notion in NOTIONS:
        for i, key in enumerate(MODELS):
            for seed in range(3):
                values = {m: float(np.clip(0.1 * (i + 1) + rng.normal(0, 0.03), 0, 1)) for m in METRICS}
                note = ""
                if key == "pca" and notion == "shape":
                    values, note = {m: float("nan") for m in METRICS}, "PCA failed: 3 prompts < 128 components"
                rows.append({"notion": notion, "model": key, "seed": seed, **values, "note": note})
    return summarize(pd.DataFrame(rows))


def _bar_containers(ax) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def _images(n: int, size: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random((size, size, 3)) for _ in range(n)]


def _banners(fig: Figure) -> list:
    return [t for t in fig.texts if t.get_text() == BANNER]


def test_model_colours_fixed_distinct_and_by_display_name():
    colours = plots.model_colours()
    assert colours == plots.model_colours()
    keyed = [colours[key] for key in MODELS]
    assert len(set(keyed)) == len(MODELS)
    for key in MODELS:
        assert colours[display_name(key)] == colours[key]
        assert len(colours[key]) == 3 and all(0 <= c <= 1 for c in colours[key])
    indirect = np.array(colours["indirect"])
    assert indirect.max() - indirect.min() > 0.5  # saturated, not a grey
    for neutral in ("random", "clip"):
        assert np.ptp(colours[neutral]) < 0.05


def test_metric_bars_use_model_colours_exact_means_std_and_na(summary):
    fig = plots.plot_metric_bars(summary, metric="mean_average_precision_at_r")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    colours = plots.model_colours()
    by_name = {display_name(k): k for k in MODELS}
    containers = _bar_containers(ax)
    assert [c.get_label() for c in containers] == [display_name(k) for k in MODELS]
    n_bars = 0
    for container in containers:
        key = by_name[container.get_label()]
        segments = container.errorbar.lines[2][0].get_segments()
        assert len(segments) == len(container.patches)
        for patch, segment in zip(container.patches, segments):
            assert patch.get_facecolor()[:3] == pytest.approx(colours[key], abs=1e-9)
            notion = NOTIONS[round(patch.get_x() + patch.get_width() / 2)]
            row = summary.loc[(notion, key)]
            assert patch.get_height() == row[("mean_average_precision_at_r", "mean")]
            (_, low), (_, high) = segment
            assert (high - low) / 2 == pytest.approx(row[("mean_average_precision_at_r", "std")])
            n_bars += 1
    assert n_bars == len(NOTIONS) * len(MODELS) - 1  # the NaN PCA bar is omitted
    pca_bars = containers[list(MODELS).index("pca")].patches
    assert [NOTIONS[round(p.get_x() + p.get_width() / 2)] for p in pca_bars] == ["object colour"]
    na = [t for t in ax.texts if t.get_text() == "n/a"]
    assert len(na) == 1
    pca_x = pca_bars[0].get_x() + pca_bars[0].get_width() / 2 - 1  # same slot, in notion 'shape' (x = 0)
    assert na[0].get_position()[0] == pytest.approx(pca_x)
    assert ax.get_ylabel() == "MAP@R"
    assert ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(NOTIONS)
    assert not _banners(fig)


def test_metric_bars_legend_never_covers_bars(summary):
    fig = plots.plot_metric_bars(summary, metric="AMI")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.legends) == 1
    legend_box = fig.legends[0].get_window_extent(renderer)
    assert not legend_box.overlaps(fig.axes[0].get_window_extent(renderer))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [display_name(k) for k in MODELS]


def test_metric_bars_on_given_axes_and_subset_of_models(summary):
    fig, ax = plt.subplots()
    subset = summary.loc[[(n, k) for n in NOTIONS for k in ("clip", "indirect")]]
    assert plots.plot_metric_bars(subset, "precision_at_1", ax=ax) is fig
    assert [c.get_label() for c in _bar_containers(ax)] == ["CLIP", "InDiReCT"]
    assert ax.get_legend() is not None and ax.get_ylabel() == "Prec@1"


def test_metrics_grid_panels_shared_legend_and_png(summary, tmp_path):
    fig = plots.plot_metrics_grid(summary, caveat=RANDOM_WEIGHTS_MARKER)
    panels = [ax for ax in fig.axes if _bar_containers(ax)]
    assert [ax.get_title() for ax in panels] == [SHORT_NAMES[m] for m in METRICS]
    for ax, metric in zip(panels, METRICS):
        indirect = _bar_containers(ax)[list(MODELS).index("indirect")]
        assert [p.get_height() for p in indirect.patches] == [summary.loc[(n, "indirect"), (metric, "mean")]
                                                               for n in NOTIONS]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert len(legends) == 1 and len(legends[0].get_texts()) == len(MODELS)
    assert len(_banners(fig)) == 1
    (png,) = plots.save_figure(fig, tmp_path / "grid", formats=("png",), dpi=150)
    with Image.open(png) as image:
        assert image.width >= 0.9 * plots.DOUBLE_COLUMN_WIDTH * 150
        assert image.height > 300


def test_save_figure_writes_png_and_pdf_atomically(summary, tmp_path):
    fig = plots.plot_metric_bars(summary)
    stem = tmp_path / "nested" / "folder" / "map_at_r"
    paths = plots.save_figure(fig, stem, dpi=200)
    assert paths == [stem.with_name("map_at_r.png"), stem.with_name("map_at_r.pdf")]
    with Image.open(paths[0]) as image:
        assert image.format == "PNG"
        assert image.info["dpi"][0] == pytest.approx(200, abs=0.5)
        assert image.width > 0.8 * fig.get_figwidth() * 200 > 100
    pdf = paths[1].read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType fonts embedded (pdf.fonttype 42)
    assert sorted(p.name for p in stem.parent.iterdir()) == ["map_at_r.pdf", "map_at_r.png"]  # no temp files


def test_saved_figures_carry_a_caption_in_words_that_follows_the_data(summary, tmp_path):
    bars = plots.plot_metric_bars(summary, "precision_at_1")
    (png, pdf) = plots.save_figure(bars, tmp_path / "metric_bars_prec_at_1")
    words = plots.figure_caption(png)
    assert words and SHORT_NAMES["precision_at_1"] in words and "_" not in words  # the metric, not a file slug
    assert b"/Title" in pdf.read_bytes()  # the PDF has it as its title too
    grid = plots.plot_image_grid([np.zeros((8, 8, 3))] * 2, title="synthetic-shapes: one image per shape")
    (png,) = plots.save_figure(grid, tmp_path / "samples_shape", formats=("png",))
    assert plots.figure_caption(png) == "synthetic-shapes: one image per shape"
    plain = plt.figure()
    (png,) = plots.save_figure(plain, tmp_path / "plain", formats=("png",))
    assert plots.figure_caption(png) is None  # nothing said: the page falls back to the file name
    plt.close("all")


def test_save_figure_rejects_bad_arguments(summary, tmp_path):
    fig = plots.plot_metric_bars(summary)
    with pytest.raises(ConfigError, match="stem"):
        plots.save_figure(fig, tmp_path / "figure.png")
    with pytest.raises(ConfigError, match="formats"):
        plots.save_figure(fig, tmp_path / "figure", formats=("docx",))
    with pytest.raises(ConfigError, match="formats"):
        plots.save_figure(fig, tmp_path / "figure", formats=())
    assert list(tmp_path.iterdir()) == []


def test_mark_caveat_adds_one_banner_above_the_axes(summary):
    fig = plots.plot_metric_bars(summary)
    assert plots.mark_caveat(fig, RANDOM_WEIGHTS_MARKER) is fig
    plots.mark_caveat(fig, RANDOM_WEIGHTS_MARKER)
    (banner,) = _banners(fig)
    assert banner.get_visible()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert banner.get_window_extent(renderer).y0 >= fig.axes[0].get_window_extent(renderer).y1


def test_loss_curve_log_scale_and_best_point():
    loss = [10.0, 1.0, 0.05, 0.01, 0.02]
    fig = plots.plot_loss_curve(loss, title="fit", caveat=RANDOM_WEIGHTS_MARKER)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "fit" and _banners(fig)
    best = [line for line in ax.get_lines() if line.get_label().startswith("best")]
    assert len(best) == 1 and list(best[0].get_xdata()) == [3] and list(best[0].get_ydata()) == [0.01]
    linear = plots.plot_loss_curve([1.0, 0.5, float("nan"), 0.3])
    assert linear.axes[0].get_yscale() == "linear" and not _banners(linear)
    with pytest.raises(ConfigError, match="loss_curve"):
        plots.plot_loss_curve([])
    with pytest.raises(ConfigError, match="loss_curve"):
        plots.plot_loss_curve([float("nan")])


def test_explained_variance_bars_cumulative_and_cut():
    ratios = [0.4, 0.3, 0.2, 0.05]
    fig = plots.plot_explained_variance(ratios, n_components=2)
    ax, twin = fig.axes[:2]
    assert [p.get_height() for p in ax.patches] == ratios
    assert twin.get_lines()[0].get_ydata() == pytest.approx(np.cumsum(ratios))
    cut = [line for line in ax.get_lines() if "kept" in line.get_label()]
    assert len(cut) == 1 and list(cut[0].get_xdata()) == [2.5, 2.5]
    few_prompts = plots.plot_explained_variance(ratios, n_components=128)  # more components than directions
    assert not [line for line in few_prompts.axes[0].get_lines() if "kept" in line.get_label()]
    for figure in (fig, few_prompts):  # every legend entry is drawn inside the axes, none on its edge
        low, high = figure.axes[0].get_xlim()
        listed = {text.get_text() for text in figure.legends[0].get_texts()}
        cuts = [line for line in figure.axes[0].get_lines() if line.get_label() in listed]
        assert all(low < line.get_xdata()[0] < high for line in cuts)
    assert "4" in few_prompts.axes[0].get_title()  # says that all 4 directions are kept
    with pytest.raises(ConfigError, match="n_components"):
        plots.plot_explained_variance(ratios, n_components=0)
    with pytest.raises(ConfigError, match="ratios"):
        plots.plot_explained_variance([])
    with pytest.raises(ConfigError, match="ratios"):
        plots.plot_explained_variance([3.0, 2.0])


def test_image_grid_accepts_paths_pil_and_arrays(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (20, 16), (255, 0, 0)).save(path)
    images = [path, Image.new("RGB", (20, 16), (0, 0, 255)), np.zeros((16, 20, 3), np.uint8), *_images(4)]
    fig = plots.plot_image_grid(images, titles=[f"image {i}" for i in range(7)], ncols=3, caveat=RANDOM_WEIGHTS_MARKER)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert len(fig.axes) == 9 and len(shown) == 7
    assert all(not ax.axison for ax in fig.axes)
    assert shown[0].get_images()[0].get_array()[0, 0].tolist() == [255, 0, 0]
    assert [ax.get_title() for ax in shown] == [f"image {i}" for i in range(7)]
    assert _banners(fig)


def test_image_inputs_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="images is empty"):
        plots.plot_image_grid([])
    with pytest.raises(ConfigError, match="titles"):
        plots.plot_image_grid(_images(2), titles=["only one"])
    with pytest.raises(ConfigError, match=r"images\[0\]"):
        plots.plot_image_grid([tmp_path / "missing.png"])
    with pytest.raises(ConfigError, match=r"images\[1\].*\[0, 1\]"):
        plots.plot_image_grid([np.zeros((8, 8, 3)), np.full((8, 8, 3), 2.5)])
    with pytest.raises(ConfigError, match="single image"):
        plots.plot_image_grid(np.zeros((8, 8, 3)))
    with pytest.raises(ConfigError, match="ncols"):
        plots.plot_image_grid(_images(2), ncols=0)


def test_neighbours_rows_labels_and_frames():
    queries = _images(2)
    neighbours = {"CLIP": [_images(3), _images(3)], "InDiReCT: object colour": [_images(3), _images(3)]}
    correct = {"InDiReCT: object colour": [[True, False, True], [False, False, True]]}
    fig = plots.plot_neighbours(queries, neighbours, correct, caveat=RANDOM_WEIGHTS_MARKER)
    assert len(fig.axes) == 16  # 4 rows (2 queries × 2 spaces) × (query + 3 neighbours)
    grid = np.array(fig.axes).reshape(4, 4)
    labels = [grid[r, 0].get_ylabel().replace("\n", " ") for r in range(4)]
    assert labels == ["CLIP", "InDiReCT: object colour"] * 2
    assert grid[0, 0].get_title() == "query" and grid[0, 3].get_title() == "#3"
    frames = [[next((p.get_gid() for p in ax.patches if p.get_gid()), None) for ax in grid[r, 1:]] for r in range(4)]
    assert frames == [[None] * 3, ["correct", "wrong", "correct"], [None] * 3, ["wrong", "wrong", "correct"]]
    green = [p for p in grid[1, 1].patches if p.get_gid() == "correct"][0]
    red = [p for p in grid[1, 2].patches if p.get_gid() == "wrong"][0]
    assert green.get_edgecolor()[:3] != red.get_edgecolor()[:3]
    assert _banners(fig)
    with pytest.raises(ConfigError, match="neighbours"):
        plots.plot_neighbours(queries, {"CLIP": [_images(3)]})
    with pytest.raises(ConfigError, match="neighbours"):
        plots.plot_neighbours(queries, {})
    with pytest.raises(ConfigError, match="correct"):
        plots.plot_neighbours(queries, neighbours, {"CLIP": [[True], [False]]})
    with pytest.raises(ConfigError, match="queries is empty"):
        plots.plot_neighbours([], neighbours)


def test_attributions_overlay_per_space():
    images = _images(2, size=32)
    rng = np.random.default_rng(2)
    maps = {"CLIP": [rng.random((7, 7)) for _ in range(2)], "InDiReCT: shape": [rng.random((7, 7)) for _ in range(2)]}
    fig = plots.plot_attributions(images, maps, titles=["circle", "square"], caveat=RANDOM_WEIGHTS_MARKER)
    grid = np.array([ax for ax in fig.axes if ax.get_images()]).reshape(2, 3)
    assert [ax.get_title() for ax in grid[0]] == ["image", "CLIP", "InDiReCT: shape"]
    assert [grid[r, 0].get_ylabel() for r in range(2)] == ["circle", "square"]
    for r in range(2):
        assert len(grid[r, 0].get_images()) == 1
        for c, space in enumerate(maps, start=1):
            base, overlay = grid[r, c].get_images()
            assert overlay.get_cmap().name == "cividis" and 0 < overlay.get_alpha() < 1
            assert np.asarray(overlay.get_array()) == pytest.approx(maps[space][r])
            assert overlay.get_extent() == base.get_extent()  # 7x7 map stretched over the 32x32 image
    assert _banners(fig)
    with pytest.raises(ConfigError, match=r"maps\['CLIP'\]"):
        plots.plot_attributions(images, {"CLIP": maps["CLIP"][:1]})
    with pytest.raises(ConfigError, match=r"maps\['CLIP'\]\[1\]"):
        plots.plot_attributions(images, {"CLIP": [maps["CLIP"][0], maps["CLIP"][1] * 3]})
    with pytest.raises(ConfigError, match="maps"):
        plots.plot_attributions(images, {})


def test_mask_share_bars_points_and_object_area():
    shares = pd.DataFrame([{"space": space, "image": i, "mask_share": share + 0.01 * i, "object_area": 0.2}
                           for space, share in (("CLIP", 0.3), ("shape", 0.6)) for i in range(3)])
    fig = plots.plot_mask_share(shares, caveat=RANDOM_WEIGHTS_MARKER)
    ax = fig.axes[0]
    bars = [p for c in _bar_containers(ax) for p in c.patches]
    assert [p.get_height() for p in bars] == pytest.approx([0.31, 0.61])
    assert bars[0].get_facecolor()[:3] == pytest.approx(plots.model_colours()["clip"])
    assert bars[1].get_facecolor()[:3] == pytest.approx(plots.model_colours()["indirect"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CLIP", "shape"]
    assert sorted(np.concatenate([line.get_ydata() for line in ax.get_lines()])) == pytest.approx(
        sorted(shares["mask_share"]))  # one dot per image
    assert ax.get_ylim() == (0, 1) and _banners(fig)
    with pytest.raises(ConfigError, match="shares"):
        plots.plot_mask_share(shares.drop(columns="object_area"))
    with pytest.raises(ConfigError, match="shares is empty"):
        plots.plot_mask_share(shares.iloc[:0])
    with pytest.raises(ConfigError, match="shares"):
        plots.plot_mask_share(shares.assign(mask_share=1.5))


def test_summary_and_metric_are_validated(summary):
    with pytest.raises(ConfigError, match="'MAP@R' is not one of the paper's metrics"):
        plots.plot_metric_bars(summary, metric="MAP@R")
    with pytest.raises(ConfigError, match="metric"):
        plots.plot_metrics_grid(summary, metrics=["AMI", "accuracy"])
    with pytest.raises(ConfigError, match="metrics is empty"):
        plots.plot_metrics_grid(summary, metrics=[])
    with pytest.raises(ConfigError, match="summary is empty"):
        plots.plot_metric_bars(summary.iloc[:0])
    with pytest.raises(ConfigError, match="summarize"):
        plots.plot_metric_bars(summary.reset_index())
    unknown = summary.rename(index={"oracle": "mystery"}, level=1)
    with pytest.raises(ConfigError, match="mystery"):
        plots.plot_metric_bars(unknown)


def test_set_theme_is_idempotent_and_embeds_truetype():
    plots.set_theme()
    first = dict(matplotlib.rcParams)
    plots.set_theme()
    assert dict(matplotlib.rcParams) == first
    assert matplotlib.rcParams["pdf.fonttype"] == 42 and matplotlib.rcParams["savefig.bbox"] == "tight"
    assert not math.isclose(matplotlib.rcParams["savefig.dpi"], 100)
