"""The run's pages as a reader sees them, in headless Chromium at 1200 px (selenium + Debian chromium).

The checker itself is tested on hand-made pages with known faults, then run on the smoke batch's index and
every executed notebook page.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from PIL import Image

from indirect_core.backbone import RANDOM_WEIGHTS_MARKER
from indirect_core.report.notebook import WarningNote, banner_html, warnings_html
from indirect_core.batch.notebook_execution import execute_notebook, render_html
from indirect_core.report.page_check import SCREEN_HEIGHT, check_page, check_run, start_browser

pytestmark = pytest.mark.slow  # headless Chromium on every page


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(profile=tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def _page(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "page.html"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>")
    return path


def test_the_checker_sees_wrapped_cells_extra_banners_and_progress_spam(browser, tmp_path):
    long_cell = "0.123 ± 0.004 " * 40
    bars = "\n".join(f"shape: {p}%|██ | {p}/100 [00:01<00:02, 9.0run/s]" for p in range(0, 100, 10))
    page = _page(tmp_path, banner_html(RANDOM_WEIGHTS_MARKER) + banner_html(RANDOM_WEIGHTS_MARKER) + f"<pre>{bars}</pre>"
                 f"<table><tr><td>{long_cell}</td><td style='white-space:nowrap'>{long_cell}</td></tr></table>")
    check = check_page(browser, page, caveat=RANDOM_WEIGHTS_MARKER, screenshot=tmp_path / "shot.png")
    assert check.banners == 2 and check.caveat_mentions == {RANDOM_WEIGHTS_MARKER: 2}
    assert check.progress_lines == {"shape": 10}
    assert len(check.wrapped_cells) == 1 and check.wrapped_cells[0].startswith("0.123 ± 0.004")
    assert check.cut_off  # the cell that may not wrap makes the page wider than the window
    assert len(check.problems) == 4 and not check.ok
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    clean = check_page(browser, _page(tmp_path, "<table><tr><td>0.1</td></tr></table>"), caveat=None)
    assert clean.ok and clean.banners == 0 and clean.wrapped_cells == []


def _stderr(text: str) -> str:
    """An output written to stderr as nbconvert renders it: a pink box."""
    return (f"<div class='jp-RenderedText jp-OutputArea-output' data-mime-type='application/vnd.jupyter.stderr'>"
            f"<pre style='background:#fdd'>{text}</pre></div>")


def test_the_checker_looks_at_the_whole_page_and_refuses_stderr_boxes_and_repeated_warnings(browser, tmp_path):
    """Notebook 03 as it was: 24 identical three-line warnings from worker processes and progress lines in pink
    stderr boxes, all below a first screen of figures, and a parameter line running off the right edge."""
    warning = ("/repo/indirect_core/experiment.py:128: UserWarning: AMI/NMI: k-means ran with fewer than 39 points "
               "per class\n  row.update(evaluate(fitted.model.transform(image_features), labels))\n")
    bars = "\n".join(f"{notion}: 100%|██████████| 45/45 [04:56<00:00,  6.59s/run]"
                     for notion in ("shape", "object colour", "background colour"))
    first_screen = f"<div style='height:{SCREEN_HEIGHT + 400}px'>figures</div>"
    parameters = "<pre style='overflow-x:auto'>projections = {" + "'shape': '/runs/demo/02_fit-shape/projection.pt', " * 12 + "}</pre>"
    page = _page(tmp_path, banner_html(RANDOM_WEIGHTS_MARKER) + first_screen + parameters + _stderr(bars)
                 + "".join(_stderr(warning) for _ in range(24)))
    check = check_page(browser, page, caveat=RANDOM_WEIGHTS_MARKER, screenshot=tmp_path / "shot.png")
    assert check.stderr_boxes == 25
    assert check.warnings == {"UserWarning: AMI/NMI: k-means ran with fewer than 39 points per class": 24}
    assert len(check.cut_off) == 1 and "projections" in check.cut_off[0]
    assert not check.ok and len(check.problems) == 3  # stderr boxes, a repeated warning, a line cut off
    with Image.open(check.screenshot) as shot:  # the whole page, not the first screen
        assert shot.height == check.height > SCREEN_HEIGHT + 400

    note = WarningNote()
    for _ in range(24):
        note.record("AMI/NMI: k-means ran with fewer than 39 points per class", UserWarning, "experiment.py", 128)
    page = _page(tmp_path, banner_html(RANDOM_WEIGHTS_MARKER) + first_screen + warnings_html(note.take_new()) + f"<pre>{bars}</pre>")
    clean = check_page(browser, page, caveat=RANDOM_WEIGHTS_MARKER)
    assert clean.ok, clean.problems
    assert clean.warnings == {"UserWarning: AMI/NMI: k-means ran with fewer than 39 points per class": 1}
    assert clean.stderr_boxes == 0 and len(clean.progress_lines) == 3


NOTEBOOK_WITH_WARNINGS = [
    """import warnings
import numpy as np
import torch
import indirect_core as ic
from indirect_core.analysis.experiment import parallel_fits, run_notion
from indirect_core._util.worker_warnings import call_recording_warnings, replay_warnings
ic.report.notebook.start()""",
    """labels = np.repeat(np.arange(4), 6)  # 6 images per class: AMI/NMI warn on every evaluation
generator = torch.Generator().manual_seed(0)
image_features = torch.randn(24, 16, generator=generator)
text_features = torch.randn(8, 16, generator=generator)
with parallel_fits(2) as pool:  # the AE's fits run in worker processes
    runs = run_notion("shape", text_features, image_features, labels, models=["random", "ae"], seeds=range(3),
                      n_components=4, executor=pool, model_options={"ae": {"max_iter": 20}})
    raised = [pool.submit(call_recording_warnings, warnings.warn, "raised in a worker") for _ in range(4)]
    for future in raised:
        replay_warnings(future.result()[1])
print(len(runs), "runs")""",
    """warnings.warn("raised in a worker")  # shown already: counted, not shown again
print("done")""",
]


def test_a_notebook_shows_each_warning_once_in_a_note_and_progress_as_output(browser, tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setenv("INDIRECT_PROGRESS", "final")  # as the batch runner sets it for its kernels
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_WITH_WARNINGS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "warnings.ipynb")
    execute_notebook(tmp_path / "warnings.ipynb", tmp_path / "out.ipynb", {}, cwd=tmp_path)
    check = check_page(browser, render_html(tmp_path / "out.ipynb"), caveat=None)
    assert check.ok, check.problems
    assert check.stderr_boxes == 0 and check.progress_lines == {"shape": 1}
    assert check.warnings == {"UserWarning: raised in a worker": 1,
                              next(w for w in check.warnings if "AMI/NMI" in w): 1}


def test_the_smoke_run_reads_well_in_a_browser(smoke_run):
    run_dir, _, _ = smoke_run
    checks = check_run(run_dir)
    pages = {check.page.name for check in checks}
    assert {"index.html", "01_cache_embeddings.html", "03_evaluate.html", "04_attribution.html",
            "05_composed_retrieval.html", "06_train_mapper.html"} <= pages
    assert len(checks) == 1 + 9  # the index and one page per executed notebook (05 and 06 included)
    for check in checks:
        assert check.ok, (check.page, check.problems)
        assert check.banners == 1 and check.caveat_mentions == {RANDOM_WEIGHTS_MARKER: 1}  # random-tiny: one banner, said once
        assert all(count <= 5 for count in check.progress_lines.values())
        assert check.stderr_boxes == 0 and all(count == 1 for count in check.warnings.values())
        assert not check.cut_off
        assert check.screenshot.is_file() and check.screenshot.parent == run_dir / "screenshots"
    evaluate = next(c for c in checks if c.page.name == "03_evaluate.html")
    assert evaluate.progress_lines  # the evaluation's bars left their one final line each
