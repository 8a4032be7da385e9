"""Publication figures: metric bars, loss curves, explained variance, image grids, neighbours, attributions.

Every helper applies :func:`set_theme` (seaborn "paper", colour-blind-safe Okabe–Ito colours, TrueType fonts),
sizes its figure for a paper column (3.3 in) or a double column (6.9 in), and returns the Figure.
Figures made with a stand-in CLIP get a red banner with its caveat (``caveat=backbone.caveat``). Each helper also gives
its figure a caption (the figure's label, saved as the files' title by :func:`save_figure` and read back by
:func:`figure_caption`), so a page showing the figure names it in words, never by its file name.

One module per kind: ``style`` (sizes, theme, colours, captions, saving, the banner), ``metrics`` (charts of
measured numbers), ``diagnostics`` (a fit and its space), ``images`` (figures made of images). Every helper is
importable from here: ``from indirect_core.report import plots; plots.plot_metric_bars(summary)``.
"""
from __future__ import annotations

from .diagnostics import plot_explained_variance, plot_loss_curve, plot_space_map
from .images import plot_attributions, plot_image_grid, plot_neighbours
from .metrics import (plot_composed_recall, plot_cross_notion, plot_mask_share, plot_metric_bars, plot_metrics_grid,
                      plot_sweep)
from .style import (CAPTION_KEY, COLUMN_WIDTH, DOUBLE_COLUMN_WIDTH, caption, figure_caption, mark_caveat,
                    model_colours, save_figure, set_theme)

__all__ = ["COLUMN_WIDTH", "DOUBLE_COLUMN_WIDTH", "CAPTION_KEY", "set_theme", "model_colours", "caption",
           "figure_caption", "save_figure", "mark_caveat", "plot_metric_bars", "plot_metrics_grid",
           "plot_sweep", "plot_composed_recall", "plot_cross_notion", "plot_mask_share", "plot_loss_curve", "plot_explained_variance",
           "plot_space_map", "plot_image_grid", "plot_neighbours", "plot_attributions"]
