"""The run's pages as a reader sees them, in headless Chromium at 1200 px (selenium + Debian chromium).

The checker itself is tested on hand-made pages with known faults, then run on the smoke batch's index and
every executed notebook page.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from indirect_core.report.notebook import banner_html
from indirect_core.report.page_check import check_page, check_run, start_browser


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
    page = _page(tmp_path, banner_html() + banner_html() + f"<pre>{bars}</pre>"
                 f"<table><tr><td>{long_cell}</td><td style='white-space:nowrap'>{long_cell}</td></tr></table>")
    check = check_page(browser, page, random_weights=True, screenshot=tmp_path / "shot.png")
    assert check.banners == 2 and check.marker_mentions == 2
    assert check.progress_lines == {"shape": 10}
    assert len(check.wrapped_cells) == 1 and check.wrapped_cells[0].startswith("0.123 ± 0.004")
    assert len(check.problems) == 3 and not check.ok
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    clean = check_page(browser, _page(tmp_path, "<table><tr><td>0.1</td></tr></table>"), random_weights=False)
    assert clean.ok and clean.banners == 0 and clean.wrapped_cells == []


def test_the_smoke_run_reads_well_in_a_browser(smoke_run):
    run_dir, _, _ = smoke_run
    checks = check_run(run_dir)
    pages = {check.page.name for check in checks}
    assert {"index.html", "01_cache_embeddings.html", "03_evaluate.html", "04_attribution.html",
            "05_composed_retrieval.html", "06_train_mapper.html"} <= pages
    assert len(checks) == 1 + 9  # the index and one page per executed notebook (05 and 06 included)
    for check in checks:
        assert check.ok, (check.page, check.problems)
        assert check.banners == 1 and check.marker_mentions == 1  # random-tiny: one banner, said once
        assert all(count <= 5 for count in check.progress_lines.values())
        assert check.screenshot.is_file() and check.screenshot.parent == run_dir / "screenshots"
    evaluate = next(c for c in checks if c.page.name == "03_evaluate.html")
    assert evaluate.progress_lines  # the evaluation's bars left their one final line each
